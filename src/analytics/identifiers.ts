const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A database name safe to paste into SQL (18.16 has no parameters): a plain identifier, or an error. */
export function checkedDatabase(name: string): string {
  if (!DATABASE_NAME.test(name)) throw new Error(`CLICKHOUSE_DATABASE must match ${DATABASE_NAME}, got "${name}"`);
  return name;
}
