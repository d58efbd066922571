/**
 * A number written in decimal digits (an optional minus sign; with `fraction`, an optional
 * decimal part), else NaN. `Number()` would also read "1e4", "0x10", "Infinity" or " 5".
 */
export function decimal(text: string, options: { fraction?: boolean } = {}): number {
  const pattern = options.fraction === true ? /^-?[0-9]{1,16}(\.[0-9]{1,16})?$/ : /^-?[0-9]{1,16}$/;
  return pattern.test(text) ? Number(text) : Number.NaN;
}
