const INTEGER = /^-?[0-9]{1,16}$/;
const FRACTION = /^-?[0-9]{1,16}(\.[0-9]{1,16})?$/;

/**
 * A number written in decimal digits (an optional minus sign; with `fraction`, an optional
 * decimal part), else NaN. `Number()` would also read "1e4", "0x10", "Infinity" or " 5".
 */
export function decimal(text: string, options: { fraction?: boolean } = {}): number {
  return (options.fraction === true ? FRACTION : INTEGER).test(text) ? Number(text) : Number.NaN;
}
