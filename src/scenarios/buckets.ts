import { createHash } from 'node:crypto';
import type { Scenario, Variant } from './types.ts';

/**
 * A user's point in [0, 1) for a scenario: the first 48 bits of
 * SHA-256(scenario, salt, user). The same in every process, on every
 * platform, across restarts; changing the salt reshuffles the users.
 */
export function bucketPoint(scenario: string, salt: string, userId: string): number {
  const digest = createHash('sha256').update(`${scenario}\u0000${salt}\u0000${userId}`).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/** The user's variant: the one whose slice of [0, 1), in file order, holds the user's point. */
export function assignVariant(scenario: Scenario, userId: string | undefined): Variant {
  const variants = scenario.variants;
  const first = variants[0] as Variant;
  if (userId === undefined) return first;
  const point = bucketPoint(scenario.name, scenario.salt, userId);
  let end = 0;
  let last = first;
  for (const variant of variants) {
    if (variant.share <= 0) continue;
    end += variant.share;
    last = variant;
    if (point < end) return variant;
  }
  return last;
}
