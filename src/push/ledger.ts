import type { PushCounts } from './stats.ts';
import type { PushTally } from './tally.ts';

/**
 * The push counters of the in-process state store: what the Redis commit
 * script keeps under `push:stat:<user>`, `push:stat`, `push:open:<campaign>`
 * and `push:active`, applied by `MemoryStateStore.commit` with the batch.
 */
export class MemoryPushLedger {
  readonly users = new Map<string, PushCounts>();
  readonly totals: PushCounts = { sends: 0, opens: 0 };
  readonly openers = new Map<string, Set<string>>();
  readonly active = new Map<string, number>();
  /** Whether a user's counters are still alive (their user TTL not over). */
  private readonly alive: (userId: string) => boolean;

  constructor(alive: (userId: string) => boolean = () => true) {
    this.alive = alive;
  }

  /** A user's counters; none once they expired, swept or not. */
  userCounts(userId: string): PushCounts {
    const counts = this.alive(userId) ? this.users.get(userId) : undefined;
    return { ...(counts ?? { sends: 0, opens: 0 }) };
  }

  apply(tally: PushTally | undefined): void {
    if (tally === undefined) return;
    for (const [user, c] of tally.users) {
      const stored = this.users.get(user) ?? { sends: 0, opens: 0 };
      this.users.set(user, { sends: stored.sends + c.sends, opens: stored.opens + c.opens });
      this.totals.sends += c.sends;
      this.totals.opens += c.opens;
    }
    for (const [campaign, users] of tally.openers) {
      const set = this.openers.get(campaign) ?? new Set<string>();
      for (const user of users) set.add(user);
      this.openers.set(campaign, set);
    }
    for (const [user, ts] of tally.active) {
      if (ts > (this.active.get(user) ?? -Infinity)) this.active.set(user, ts);
    }
  }

  /** Forgets users inactive since before `before` (the Redis store trims the same way). */
  trimActive(before: number): void {
    for (const [user, ts] of this.active) if (ts < before) this.active.delete(user);
  }
}
