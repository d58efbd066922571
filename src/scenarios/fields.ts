import { parseDuration } from '../config/duration.ts';
import type { YamlFile } from '../config/yaml-file.ts';

export type Path = ReadonlyArray<string | number>;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads typed values out of a parsed pipeline file; every failure is an error
 * naming the file, the line and the field.
 */
export class Fields {
  readonly file: YamlFile;

  constructor(file: YamlFile) {
    this.file = file;
  }

  fail(path: Path, message: string): never {
    throw this.file.error(path, message);
  }

  /** A mapping whose keys are all in `known`. */
  mapping(value: unknown, path: Path, known: readonly string[]): Record<string, unknown> {
    if (!isRecord(value)) this.fail(path, 'must be a mapping');
    for (const key of Object.keys(value)) {
      if (!known.includes(key))
        this.fail([...path, key], `unknown field; known: ${known.join(', ')}`);
    }
    return value;
  }

  list(value: unknown, path: Path, min: number, max: number): unknown[] {
    if (!Array.isArray(value) || value.length < min || value.length > max) {
      this.fail(path, `must be a list of ${min} to ${max} entries`);
    }
    return value;
  }

  number(value: unknown, path: Path, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.fail(path, `must be a number from ${min} to ${max}`);
    }
    return value;
  }

  integer(value: unknown, path: Path, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(path, `must be an integer from ${min} to ${max}`);
    }
    return value;
  }

  boolean(value: unknown, path: Path): boolean {
    if (typeof value !== 'boolean') this.fail(path, 'must be true or false');
    return value;
  }

  text(value: unknown, path: Path, maxLength: number): string {
    if (typeof value !== 'string' || value.length > maxLength) {
      this.fail(path, `must be a string of at most ${maxLength} characters`);
    }
    return value;
  }

  name(value: unknown, path: Path, pattern: RegExp): string {
    if (typeof value !== 'string' || !pattern.test(value)) {
      this.fail(path, `must match ${pattern}: lower-case letters, digits, "-" and "_"`);
    }
    return value;
  }

  oneOf<T extends string>(value: unknown, path: Path, allowed: readonly T[]): T {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(path, `must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  durationMs(value: unknown, path: Path): number {
    try {
      return parseDuration(value, String(path[path.length - 1] ?? ''));
    } catch (err) {
      return this.fail(path, (err as Error).message.replace(/^\S+ /, ''));
    }
  }

  /** A list of ids or names (a non-negative integer is taken as its decimal string). */
  idSet(value: unknown, path: Path, maxEntries: number): ReadonlySet<string> {
    const entries = this.list(value, path, 0, maxEntries);
    return new Set(
      entries.map((entry, i) => {
        if (typeof entry === 'number' && Number.isSafeInteger(entry) && entry >= 0)
          return String(entry);
        if (typeof entry !== 'string' || entry.length === 0 || entry.length > 256) {
          this.fail([...path, i], 'must be a string of 1 to 256 characters');
        }
        return entry;
      }),
    );
  }
}
