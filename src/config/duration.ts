import { FreshetError } from '../errors.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses "250ms", "30s", "15m", "6h", "30d", "1w" (or a number of milliseconds) into milliseconds. */
export function parseDuration(raw: unknown, field: string): number {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw >= 0) return raw;
  const match = typeof raw === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(raw.trim()) : null;
  if (match === null) {
    throw new FreshetError(
      'pipeline_file_invalid',
      `${field} must be a duration such as 250ms, 30s, 15m, 6h, 30d or 1w, got ${JSON.stringify(raw)}`,
      { field },
    );
  }
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}
