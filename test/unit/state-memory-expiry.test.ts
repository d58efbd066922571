import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine } from '../../src/engine.ts';
import type { BatchEffects } from '../../src/model/online-mf.ts';
import type { ItemRecord, UserRecord } from '../../src/model/records.ts';
import { MemoryPushStore } from '../../src/push/memory-store.ts';
import type { PushTally } from '../../src/push/tally.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';
import type { BatchCommit } from '../../src/state/store.ts';
import { effects } from '../contract/state-store.ts';
import { eventually } from '../support/scenarios.ts';

const START = 1_700_000_000_000;

function user(): UserRecord {
  return { ts: 1, count: 1, vec: Float32Array.from([1, 0, 0, 0]) };
}

function item(clicks: number): ItemRecord {
  return { ts: 1, bias: 0, views: clicks, clicks, vec: Float32Array.from([0.5, -0.25, 0.125, 1]) };
}

/** A store whose wall clock the test moves, with a user TTL of 1 s and an item TTL of 2 s. */
function open(ttl = { userMs: 1000, itemMs: 2000 }) {
  const clock = { now: START };
  const store = new MemoryStateStore({ ttl, now: () => clock.now });
  let offset = 0;
  const commit = (partial: Partial<BatchCommit>) =>
    store.commit({
      partition: 'g/t/0',
      expectedOffset: offset === 0 ? null : String(offset),
      nextOffset: String(++offset),
      effects: undefined,
      analytics: undefined,
      ...partial,
    });
  /** A batch in which `userId` clicks each of `items` once (new items, no base). */
  const clicks = (userId: string, items: string[], partial: Partial<BatchEffects> = {}) =>
    commit({
      effects: effects({
        users: new Map([[userId, user()]]),
        clicked: new Map([[userId, new Map(items.map((id) => [id, 1]))]]),
        items: new Map(items.map((id) => [id, item(1)])),
        counts: new Map(items.map((id) => [id, { views: 1, clicks: 1 }])),
        rates: { item: 0, trending: 0.001 },
        clock: 1,
        ...partial,
      }),
    });
  return { clock, store, commit, clicks };
}

function pushTally(partial: Partial<PushTally>): PushTally {
  return { users: new Map(), openers: new Map(), active: new Map(), ...partial };
}

describe('in-process state expiry', () => {
  it("forgets a user's record and clicked items once not written for the user TTL, and a write restarts it", async () => {
    const { clock, store, clicks } = open();
    expect(await clicks('u', ['a'])).toBe(true);
    clock.now += 800;
    expect(await clicks('u', ['b'])).toBe(true);
    // 1,400 ms after the first write, 600 after the last: alive.
    clock.now += 600;
    expect(await store.getUser('u')).toBeDefined();
    expect(await store.getClicked('u')).toEqual(['b', 'a']);
    // 1,001 ms after the last write: gone from every read, swept or not.
    clock.now += 401;
    expect(await store.getUser('u')).toBeUndefined();
    expect(await store.getClicked('u')).toEqual([]);
    expect((await store.loadSnapshot(['u'], [])).users.size).toBe(0);
    // Written again, it starts from nothing: its earlier clicked items do not come back.
    expect(await clicks('u', ['c'])).toBe(true);
    expect(await store.getClicked('u')).toEqual(['c']);
  });

  it("forgets a user's push counters once not written for the user TTL, and the active users by event time", async () => {
    const { clock, store, commit } = open();
    const push = new MemoryPushStore(store.push);
    const sent = (userId: string, ts: number) =>
      commit({
        effects: effects({ clock: ts }),
        push: pushTally({ users: new Map([[userId, { sends: 1, opens: 0 }]]), active: new Map([[userId, ts]]) }),
      });
    expect(await sent('p', START - 5000)).toBe(true);
    clock.now += 500;
    expect(await sent('q', START)).toBe(true);
    // 'p' was last active 5 s of event time before 'q', past the 1 s user TTL.
    expect((await push.activeUsers(0)).map((a) => a.userId)).toEqual(['q']);
    clock.now += 501;
    // Expired before any sweep: read as none.
    expect(await push.userCounts(['p'])).toEqual([{ sends: 0, opens: 0 }]);
    expect(await sent('q', START + 1001)).toBe(true);
    // The commit swept 'p' (written 1,001 ms ago); 'q', written 501 ms before, counts on.
    expect(await push.userCounts(['p', 'q'])).toEqual([
      { sends: 0, opens: 0 },
      { sends: 2, opens: 0 },
    ]);
    expect(await push.totals()).toEqual({ sends: 3, opens: 0 });
    // Written again after expiring, before any sweep: its counters start again.
    clock.now += 1001;
    expect(await sent('q', START + 2002)).toBe(true);
    expect(await push.userCounts(['q'])).toEqual([{ sends: 1, opens: 0 }]);
  });

  it('expires an item not written for the item TTL: record, totals, trending score and content', async () => {
    const { clock, store, clicks, commit } = open();
    expect(await commit({ contents: [{ itemId: 'a', publishedAt: START }] })).toBe(true);
    expect(await clicks('u', ['a', 'b'])).toBe(true);
    clock.now += 1500;
    expect(await clicks('v', ['b'])).toBe(true);
    clock.now += 501;
    // 'a' was written 2,001 ms ago, 'b' 501 ms ago.
    expect(await store.getItem('a')).toBeUndefined();
    expect(await store.getItem('b')).toBeDefined();
    expect(await store.getItemCounts('a')).toEqual({ views: 0, clicks: 0 });
    expect(await store.getItemCounts('b')).toEqual({ views: 2, clicks: 2 });
    expect((await store.trending(10)).map((s) => s.id)).toEqual(['b']);
    expect(await store.getContent('a')).toBeUndefined();
    expect(await store.freshContent(0, 10)).toEqual([]);
    expect([...(await store.loadSnapshot([], ['a', 'b'])).items.keys()]).toEqual(['b']);
    // A read as of an earlier time still finds it, as the batch read then will commit by it.
    expect([...(await store.loadSnapshot([], ['a'], START + 1999)).items.keys()]).toEqual(['a']);
  });

  it('starts an expired item again from nothing, judged at commit by the time the batch was read', async () => {
    const counted = (id: string) =>
      effects({ items: new Map([[id, item(1)]]), counts: new Map([[id, { views: 1, clicks: 0 }]]), clock: 1 });
    for (const [readAt, views] of [
      // Read 1,000 ms after its write (alive), committed 2,500 ms after it: its totals carry on.
      [START + 1000, 2],
      // Read when committed, after the TTL: it starts from nothing.
      [undefined, 1],
    ] as const) {
      const { clock, store, commit } = open();
      expect(await commit({ effects: counted('a') })).toBe(true);
      clock.now += 2500;
      expect(await commit({ effects: counted('a'), readAt })).toBe(true);
      expect(await store.getItemCounts('a')).toEqual({ views, clicks: 0 });
    }
  });

  it('sweeps at most the limit of each kind a call, oldest first', async () => {
    const { clock, store, commit } = open();
    const write = (ids: string[]) =>
      commit({ effects: effects({ items: new Map(ids.map((id) => [id, item(0)])), clock: 1 }) });
    expect(await write(['x', 'y'])).toBe(true);
    clock.now += 10;
    expect(await write(['z'])).toBe(true);
    clock.now += 10;
    expect(await write(['y'])).toBe(true);
    const stored = async () => (await store.itemsChangedSince(0)).items.map(([id]) => id).sort();
    clock.now += 1995;
    // 'x' (2,015 ms) and 'z' (2,005 ms) expired; 'y', written again, has not.
    expect(await store.sweepExpired(1)).toBe(1);
    expect(await stored()).toEqual(['y', 'z']);
    expect(await store.sweepExpired()).toBe(1);
    expect(await stored()).toEqual(['y']);
    expect(await store.sweepExpired()).toBe(0);
    clock.now += 10;
    // A commit sweeps too.
    expect(await write(['w'])).toBe(true);
    expect(await stored()).toEqual(['w']);
  });

  it('keeps everything without TTLs', async () => {
    const { clock, store, clicks } = open({ userMs: 0, itemMs: 0 });
    expect(await clicks('u', ['a'])).toBe(true);
    clock.now += 10 * 365 * 86_400_000;
    expect(await store.sweepExpired()).toBe(0);
    expect(await store.getUser('u')).toBeDefined();
    expect(await store.getClicked('u')).toEqual(['a']);
    expect(await store.getItemCounts('a')).toEqual({ views: 1, clicks: 1 });
  });

  it('is swept by an embedded engine while no event arrives', async () => {
    const engine = createEngine(loadConfig({ PORT: '0', HOST: '127.0.0.1', ITEM_TTL_MS: '1500' }), pino({ level: 'silent' }));
    await engine.start();
    try {
      const now = Date.now();
      const events = ['a', 'b'].map((itemId, n) => ({ type: 'click', userId: `u${n}`, itemId, ts: now }));
      const posted = await engine.api.inject({ method: 'POST', url: '/v1/events', payload: JSON.stringify(events) });
      expect(posted.statusCode).toBe(200);
      const stored = async () => (await engine.reads.inner.itemsChangedSince(0)).items.length;
      await eventually(async () => (await stored()) === 2, 5_000, 'the items to be stored');
      await eventually(async () => (await stored()) === 0, 8_000, 'the expired items to be swept');
    } finally {
      await engine.stop();
    }
  }, 20_000);
});
