/** Ordering of a campaign's audience, and selection of its head. */

export interface AudienceEntry {
  userId: string;
  /** Latest activity, event time ms. */
  lastActive: number;
  /** Predicted preference for the content (higher first). */
  preference: number;
}

/**
 * The audience order: inactive users first (no activity for `inactiveAfterMs` at
 * `now`: push is how they come back), each group by preference, best first; ties
 * by id so that every process orders alike.
 */
export function audienceOrder(now: number, inactiveAfterMs: number): (a: AudienceEntry, b: AudienceEntry) => number {
  const inactive = (e: AudienceEntry) => (now - e.lastActive >= inactiveAfterMs ? 0 : 1);
  // A preference that is not a number ranks last in its group, so the order stays total.
  const preference = (e: AudienceEntry) => (Number.isNaN(e.preference) ? -Infinity : e.preference);
  return (a, b) =>
    inactive(a) - inactive(b) ||
    (preference(a) === preference(b) ? 0 : preference(b) > preference(a) ? 1 : -1) ||
    (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0);
}

/** All entries' users in audience order. */
export function orderAudience(
  entries: readonly AudienceEntry[],
  now: number,
  inactiveAfterMs: number,
): string[] {
  return entries
    .slice()
    .sort(audienceOrder(now, inactiveAfterMs))
    .map((e) => e.userId);
}

/**
 * The first `limit` entries in audience order among all those offered, holding at most
 * 2 × `limit` at a time: a campaign's stage needs the head of the ranking, not all of it.
 */
export class AudienceSelection {
  private readonly limit: number;
  private readonly order: (a: AudienceEntry, b: AudienceEntry) => number;
  private readonly entries: AudienceEntry[] = [];
  /** Entries offered, kept or not. */
  offered = 0;

  constructor(limit: number, now: number, inactiveAfterMs: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, not ${limit}`);
    this.limit = limit;
    this.order = audienceOrder(now, inactiveAfterMs);
  }

  offer(entry: AudienceEntry): void {
    this.offered++;
    this.entries.push(entry);
    if (this.entries.length >= 2 * this.limit) this.trim();
  }

  /** The kept users, in audience order. */
  ordered(): string[] {
    this.trim();
    return this.entries.map((e) => e.userId);
  }

  private trim(): void {
    this.entries.sort(this.order);
    if (this.entries.length > this.limit) this.entries.length = this.limit;
  }
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let f = 0; f < a.length; f++) {
    const x = a[f] as number;
    const y = b[f] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/** Mean of the unit vectors (each clicker weighs the same), or undefined without any. */
export function centroid(vectors: readonly Float32Array[]): Float32Array | undefined {
  const first = vectors[0];
  if (first === undefined) return undefined;
  const out = new Float32Array(first.length);
  for (const v of vectors) {
    let norm = 0;
    for (let f = 0; f < v.length; f++) norm += (v[f] as number) ** 2;
    if (norm === 0) continue;
    const scale = 1 / Math.sqrt(norm) / vectors.length;
    for (let f = 0; f < v.length; f++) out[f] = (out[f] as number) + (v[f] as number) * scale;
  }
  return out;
}
