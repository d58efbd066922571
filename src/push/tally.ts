import type { InteractionEvent } from '../events/schema.ts';
import { isActivity } from './activity.ts';
import type { PushCounts } from './stats.ts';

/**
 * What one batch of events changes in the push loop's counters. It is written
 * by the state store in the same transaction as the batch's model state and
 * offset, so the counters are exact: a replayed batch is skipped with its
 * offset, never counted twice.
 */
export interface PushTally {
  /** push_sent and push_open events per user. */
  users: Map<string, PushCounts>;
  /** Users who opened a push, per campaign id named by the push_open event. */
  openers: Map<string, Set<string>>;
  /** Latest activity per user (view, click or push_open, not a replayed history), event time ms. */
  active: Map<string, number>;
}

/** The batch's push counters, or undefined when it has none. Pure. */
export function pushTally(events: readonly InteractionEvent[]): PushTally | undefined {
  const tally: PushTally = { users: new Map(), openers: new Map(), active: new Map() };
  for (const event of events) {
    if (isActivity(event)) {
      const last = tally.active.get(event.userId);
      if (last === undefined || event.ts > last) tally.active.set(event.userId, event.ts);
    }
    if (event.type !== 'push_sent' && event.type !== 'push_open') continue;

    let counts = tally.users.get(event.userId);
    if (counts === undefined) {
      counts = { sends: 0, opens: 0 };
      tally.users.set(event.userId, counts);
    }
    if (event.type === 'push_sent') {
      counts.sends++;
      continue;
    }
    counts.opens++;
    if (event.campaignId === undefined) continue;
    let openers = tally.openers.get(event.campaignId);
    if (openers === undefined) {
      openers = new Set();
      tally.openers.set(event.campaignId, openers);
    }
    openers.add(event.userId);
  }
  return tally.active.size + tally.users.size === 0 ? undefined : tally;
}

/** Flat arguments for the Redis commit script: counts, then openers, then activity. */
export function tallyArgs(tally: PushTally | undefined): Array<string | number> {
  if (tally === undefined) return [0, 0, 0];
  const args: Array<string | number> = [tally.users.size];
  for (const [user, c] of tally.users) args.push(user, c.sends, c.opens);
  const pairs: string[] = [];
  for (const [campaign, users] of tally.openers) {
    for (const user of users) pairs.push(campaign, user);
  }
  args.push(pairs.length / 2, ...pairs);
  args.push(tally.active.size);
  for (const [user, ts] of tally.active) args.push(user, ts);
  return args;
}
