import { createHash, timingSafeEqual } from 'node:crypto';

export const API_KEY_HEADER = 'x-api-key';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Checks the `x-api-key` header against the configured keys. Both sides are
 * hashed first, so every comparison is of 32 bytes with timingSafeEqual, and
 * every key is compared whatever matched: the time taken tells nothing about
 * the keys, not even their lengths.
 */
export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  accepts(presented: string | string[] | undefined): boolean {
    if (!this.enabled) return true;
    if (typeof presented !== 'string') return false;
    const candidate = digest(presented);
    let match = false;
    for (const known of this.digests) match = timingSafeEqual(candidate, known) || match;
    return match;
  }
}
