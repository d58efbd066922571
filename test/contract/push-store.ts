import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionEvent } from '../../src/events/schema.ts';
import { beginStage, newCampaign, type Campaign } from '../../src/push/campaign.ts';
import { pushParams } from '../../src/push/params.ts';
import type { PushStore } from '../../src/push/store.ts';
import { pushTally } from '../../src/push/tally.ts';
import type { StateStore } from '../../src/state/store.ts';

export interface PushStores {
  state: StateStore;
  push: PushStore;
}

const T = Date.UTC(2026, 2, 1, 9);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function ev(
  type: InteractionEvent['type'],
  userId: string,
  ts: number,
  campaignId?: string,
): InteractionEvent {
  return { type, userId, itemId: 'n1', ts, ...(campaignId ? { campaignId } : {}) };
}

/**
 * The behaviour every PushStore must have, with the counters fed through the
 * state store's commit. Run in process in the unit tests and against a real
 * Redis in the integration tests.
 */
export function pushStoreContract(name: string, open: () => Promise<PushStores>) {
  describe(`${name} push store`, () => {
    let state: StateStore;
    let push: PushStore;
    let offset = 0;
    const commit = (events: InteractionEvent[]) =>
      state.commit({
        partition: 'g/events/0',
        expectedOffset: offset === 0 ? null : String(offset),
        nextOffset: String(++offset),
        effects: undefined,
        analytics: undefined,
        push: pushTally(events),
      });

    beforeAll(async () => {
      ({ state, push } = await open());
    });
    afterAll(async () => {
      await push.close();
      await state.close();
    });

    it('counts sends and opens per user and in total, and openers per campaign, from committed batches', async () => {
      expect(
        await commit([
          ev('push_sent', 'a', T),
          ev('push_sent', 'b', T),
          ev('push_open', 'a', T + 5, 'c1'),
          ev('view', 'c', T + 9),
        ]),
      ).toBe(true);
      expect(
        await commit([
          ev('push_sent', 'a', T + 60),
          ev('push_open', 'b', T + 70),
          ev('push_open', 'a', T + 80, 'c1'),
        ]),
      ).toBe(true);
      expect(await push.userCounts(['a', 'b', 'nobody'])).toEqual([
        { sends: 2, opens: 2 },
        { sends: 1, opens: 1 },
        { sends: 0, opens: 0 },
      ]);
      expect(await push.totals()).toEqual({ sends: 3, opens: 3 });
      expect(await push.openers('c1')).toEqual(['a']);
      expect(await push.openers('c2')).toEqual([]);
    });

    it('keeps each user latest activity (not sends), and trims the dormant', async () => {
      await commit([ev('click', 'c', T - 1000), ev('push_sent', 'd', T + 100)]);
      const active = (await push.activeUsers(T)).sort((x, y) => (x.userId < y.userId ? -1 : 1));
      expect(active).toEqual([
        { userId: 'a', lastActive: T + 80 },
        { userId: 'b', lastActive: T + 70 },
        { userId: 'c', lastActive: T + 9 },
      ]);
      await push.trimActive(T + 75);
      expect((await push.activeUsers(0)).map((u) => u.userId).sort()).toEqual(['a']);
    });

    it('creates a campaign once, lists it, and saves only over the version it read', async () => {
      const params = pushParams();
      const c = newCampaign({ itemId: 'n1', publishedAt: T }, T + 1, params);
      const other = newCampaign({ itemId: 'n2', publishedAt: T }, T + 2, params);
      expect(await push.create(c)).toBe(true);
      expect(await push.create(c)).toBe(false);
      expect(await push.create(other)).toBe(true);
      expect((await push.list(10)).map((x) => x.itemId)).toEqual(['n2', 'n1']);
      expect((await push.live()).sort()).toEqual([c.id, other.id].sort());

      const saved = (await push.save(beginStage(c, T + 3))) as Campaign;
      expect(saved).toMatchObject({ version: 1, state: 'sending' });
      expect(await push.save(beginStage(c, T + 4))).toBeUndefined();
      expect(await push.get(c.id)).toEqual(saved);
      expect((await push.list(10, 'sending')).map((x) => x.id)).toEqual([c.id]);

      const stopped = (await push.save({
        ...saved,
        state: 'stopped',
        stopReason: 'expired',
      })) as Campaign;
      expect(stopped.version).toBe(2);
      expect(await push.live()).toEqual([other.id]);
      expect(await push.get('c0000000000000000')).toBeUndefined();

      const dirty = await push.dirty(10);
      expect(dirty.find((d) => d.id === c.id)).toEqual({ id: c.id, version: 2 });
      await push.clean({ id: c.id, version: 1 });
      expect((await push.dirty(10)).map((d) => d.id)).toContain(c.id);
      await push.clean({ id: c.id, version: 2 });
      expect((await push.dirty(10)).map((d) => d.id)).not.toContain(c.id);
    });

    it('leases a campaign to one owner at a time', async () => {
      const now = Date.now();
      expect(await push.lease('cx', 'w1', now, 10_000)).toBe(true);
      expect(await push.lease('cx', 'w2', now, 10_000)).toBe(false);
      expect(await push.lease('cx', 'w1', now, 10_000)).toBe(true);
      await push.release('cx', 'w2');
      expect(await push.lease('cx', 'w2', now, 10_000)).toBe(false);
      await push.release('cx', 'w1');
      expect(await push.lease('cx', 'w2', now, 10_000)).toBe(true);
    });

    it('claims each user cap once per window, skipping users already sent the campaign', async () => {
      const now = Date.now();
      expect(await push.claim('k1', 1, ['u1', 'u2', 'u3'], now, 60_000)).toEqual([
        'u1',
        'u2',
        'u3',
      ]);
      expect(await push.claim('k2', 1, ['u3', 'u4', 'u1'], now, 60_000)).toEqual(['u4']);
      expect(await push.capHolders(['u1', 'u4', 'u5'], now)).toEqual(['k1', 'k2', null]);
      expect(await push.recipients('k1')).toEqual(
        new Map([
          ['u1', 1],
          ['u2', 1],
          ['u3', 1],
        ]),
      );
      expect(await push.recipients('k2')).toEqual(new Map([['u4', 1]]));
    });

    it('frees a cap when its window is over, but never sends a campaign twice to a user', async () => {
      const start = Date.now();
      expect(await push.claim('w1', 1, ['v1', 'v2'], start, 100)).toEqual(['v1', 'v2']);
      expect(await push.claim('w2', 1, ['v1'], start, 100)).toEqual([]);
      await sleep(150);
      const later = Date.now();
      expect(await push.claim('w2', 2, ['v1'], later, 100)).toEqual(['v1']);
      expect(await push.claim('w1', 2, ['v2'], later, 100)).toEqual([]);
      expect(await push.recipients('w2')).toEqual(new Map([['v1', 2]]));
    });

    it('deletes stopped campaigns created before a time with their recipients and openers, oldest first', async () => {
      // Created before the other tests' campaigns, which this leaves alone.
      const at = T - 1000;
      const params = pushParams();
      const [old, live, unwritten, recent] = ['p1', 'p2', 'p3', 'p4'].map((itemId, n) =>
        newCampaign({ itemId, publishedAt: at }, at + [10, 20, 30, 100][n]!, params),
      ) as [Campaign, Campaign, Campaign, Campaign];
      for (const c of [old, live, unwritten, recent]) expect(await push.create(c)).toBe(true);
      for (const c of [old, unwritten, recent]) {
        expect(await push.save({ ...c, state: 'stopped', stopReason: 'expired' })).toBeDefined();
      }
      // The analytics store has the last change of `old` and `recent`, not of `unwritten`.
      for (const c of [old, recent]) await push.clean({ id: c.id, version: 1 });
      expect(await push.claim(old.id, 1, ['r1', 'r2'], Date.now(), 0)).toEqual(['r1', 'r2']);
      expect(await commit([ev('push_open', 'r1', T, old.id)])).toBe(true);
      expect(await push.openers(old.id)).toEqual(['r1']);

      const cut = at + 50;
      expect(await push.prune(cut, 10, true)).toBe(1);
      expect(await push.get(old.id)).toBeUndefined();
      expect(await push.recipients(old.id)).toEqual(new Map());
      expect(await push.openers(old.id)).toEqual([]);
      expect((await push.list(100)).map((c) => c.id)).not.toContain(old.id);
      // The oldest left is live: with a limit of one, it is the only one looked at.
      expect(await push.prune(cut, 1, false)).toBe(0);
      expect(await push.get(unwritten.id)).toBeDefined();
      // Without an analytics store to wait for, an unwritten campaign goes too, and its mark.
      expect(await push.prune(cut, 10, false)).toBe(1);
      expect(await push.get(unwritten.id)).toBeUndefined();
      expect((await push.dirty(100)).map((d) => d.id)).not.toContain(unwritten.id);
      expect(await push.prune(cut, 10, false)).toBe(0);
      for (const c of [live, recent]) expect(await push.get(c.id)).toBeDefined();
      expect(await push.live()).toContain(live.id);
    });
  });
}
