import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The part of chdb's API the tests use: an in-process ClickHouse of a current release. */
export interface ChdbSession {
  query(sql: string, format?: string): string;
  cleanup(): void;
}

/**
 * chdb (a current ClickHouse compiled into a Node addon, ~540 MB) is installed
 * by `npm test` into a cache directory rather than as a dependency, so that
 * `npm start` stays small. Absent: skip, or fail under CI=true.
 */
export async function openChdb(): Promise<ChdbSession | undefined> {
  const dir = process.env.FRESHET_CHDB_DIR;
  const entry = dir ? join(dir, 'node_modules', 'chdb', 'index.mjs') : undefined;
  if (entry === undefined || !existsSync(entry)) {
    if (process.env.CI === 'true') {
      throw new Error('FRESHET_CHDB_DIR does not hold chdb, and CI=true requires the modern ClickHouse test: run `npm test`');
    }
    return undefined;
  }
  const chdb = (await import(entry)) as { Session: new () => ChdbSession };
  return new chdb.Session();
}
