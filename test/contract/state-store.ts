import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchEffects } from '../../src/model/online-mf.ts';
import type { ItemRecord, UserRecord } from '../../src/model/records.ts';
import { CLICKED_MAX_ITEMS, TRENDING_CAP, type StateStore } from '../../src/state/store.ts';

const DIMENSIONS = 4;

function user(ts: number, values: number[]): UserRecord {
  return { ts, count: 1, vec: Float32Array.from(values) };
}

function item(ts: number, bias: number, clicks: number): ItemRecord {
  return { ts, bias, views: clicks * 2, clicks, vec: Float32Array.from([0.5, -0.25, 0.125, 1]) };
}

/** A batch's effects: nothing but what `partial` gives. */
export function effects(partial: Partial<BatchEffects>): BatchEffects {
  return {
    users: new Map(),
    items: new Map(),
    counts: new Map(),
    clicked: new Map(),
    itemBases: new Map(),
    rates: { item: 0, trending: 0 },
    clock: 0,
    ...partial,
  };
}

/** Commits of one user's clicks (with its record) to one partition, offset by offset. */
function clicksOf(store: StateStore, partition: string, userId: string) {
  return (nextOffset: string, expectedOffset: string | null, clicks: Array<[string, number]>) =>
    store.commit({
      partition,
      expectedOffset,
      nextOffset,
      effects: effects({ users: new Map([[userId, user(1, [1, 0, 0, 0])]]), clicked: new Map([[userId, new Map(clicks)]]) }),
      analytics: undefined,
    });
}

/**
 * The behaviour every StateStore must have. Run against the in-memory store in
 * the unit tests and against a real Redis in the integration tests.
 */
export function stateStoreContract(name: string, open: () => Promise<StateStore>, dimensions = DIMENSIONS) {
  describe(`${name} state store`, () => {
    let store: StateStore;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store.close();
    });

    it('stores nothing before the first commit', async () => {
      expect(await store.readOffset('g/t/0')).toBeNull();
      expect(await store.getUser('nobody')).toBeUndefined();
      expect(await store.getItemCounts('nothing')).toEqual({ views: 0, clicks: 0 });
      expect(await store.clock()).toBe(0);
      expect(dimensions).toBe(DIMENSIONS);
    });

    it('commits records, counters, clicks, trending and offset together', async () => {
      const ok = await store.commit({
        partition: 'g/t/0',
        expectedOffset: null,
        nextOffset: '10',
        effects: effects({
          users: new Map([['u1', user(1000, [1, 2, 3, 4])]]),
          items: new Map([['i1', item(1000, 0.5, 3)], ['i2', item(900, -0.5, 1)]]),
          counts: new Map([['i1', { views: 5, clicks: 3 }]]),
          clicked: new Map([['u1', new Map([['i1', 1000]])]]),
          clock: 1000,
        }),
        analytics: { batchId: 't/0/0-9', rows: [{ minute: 60, itemId: 'i1', views: 5, clicks: 3 }] },
      });
      expect(ok).toBe(true);
      expect(await store.readOffset('g/t/0')).toBe('10');
      const u1 = await store.getUser('u1');
      expect(u1?.ts).toBe(1000);
      expect([...(u1?.vec ?? [])]).toEqual([1, 2, 3, 4]);
      const i1 = await store.getItem('i1');
      expect(i1).toMatchObject({ ts: 1000, bias: 0.5, views: 6, clicks: 3 });
      expect(await store.getItemCounts('i1')).toEqual({ views: 5, clicks: 3 });
      expect(await store.getClicked('u1')).toEqual(['i1']);
      expect((await store.trending(5)).map((s) => s.id)).toEqual(['i1', 'i2']);
      expect(await store.clock()).toBe(1000);
      expect(await store.pendingAnalyticsCount()).toBe(1);
    });

    it("keeps each user's latest clicks, newest first and at most the cap, from a batch of more than Lua unpacks at once", async () => {
      // 9,000 clicks of one user, in no order of time: the newest CLICKED_MAX_ITEMS stay.
      const many = Array.from({ length: 9_000 }, (_, n) => [`many-${n}`, (n * 7_919) % 9_000] as [string, number]);
      const ok = await store.commit({
        partition: 'g/clicks/0',
        expectedOffset: null,
        nextOffset: '3',
        effects: effects({
          users: new Map(['c1', 'c2', 'c3'].map((id) => [id, user(30, [1, 1, 1, 1])])),
          clicked: new Map([
            ['c1', new Map([['a', 20], ['b', 30]])],
            ['c2', new Map(many)],
            ['c3', new Map([['a', 5]])],
          ]),
        }),
        analytics: undefined,
      });
      expect(ok).toBe(true);
      expect(await store.getClicked('c1')).toEqual(['b', 'a']);
      const newest = [...many].sort((x, y) => y[1] - x[1]).slice(0, CLICKED_MAX_ITEMS).map(([id]) => id);
      // 7,919 is prime to 9,000, so the times are 0 to 8,999 each once: the newest is at 8,999.
      expect(new Map(many).get(newest[0] as string)).toBe(8_999);
      expect(await store.getClicked('c2')).toEqual(newest);
      expect(await store.getClicked('c3')).toEqual(['a']);
    });

    it('moves an item clicked again later to the front, keeps a later click over an earlier one, and orders ties by id', async () => {
      const commit = clicksOf(store, 'g/reclick/0', 'r1');
      expect(await commit('1', null, [['x', 3000], ['y', 1000], ['t2', 1500], ['t1', 1500]])).toBe(true);
      // x again but earlier (a late event): it keeps 3000; y again later: it moves up.
      expect(await commit('2', '1', [['z', 2000], ['x', 100], ['y', 2500]])).toBe(true);
      expect(await store.getClicked('r1')).toEqual(['x', 'y', 'z', 't2', 't1']);
      // Ties between ids whose UTF-16 and UTF-8 orders differ: the higher UTF-8 bytes first.
      expect(await commit('3', '2', [['a\uFFFF', 9000], ['a\u{1F600}', 9000]])).toBe(true);
      expect((await store.getClicked('r1')).slice(0, 2)).toEqual(['a\u{1F600}', 'a\uFFFF']);
      expect(await store.getClicked('nobody')).toEqual([]);
    });

    it("keeps a user's clicked items when a later batch writes the user without clicks", async () => {
      const commit = (nextOffset: string, expectedOffset: string | null, clicked: Map<string, Map<string, number>>) =>
        store.commit({
          partition: 'g/keep-clicks/0',
          expectedOffset,
          nextOffset,
          effects: effects({ users: new Map([['k1', user(Number(nextOffset), [1, 2, 3, 4])]]), clicked }),
          analytics: undefined,
        });
      expect(await commit('1', null, new Map([['k1', new Map([['a', 10], ['b', 20]])]]))).toBe(true);
      expect(await commit('2', '1', new Map())).toBe(true);
      expect(await store.getClicked('k1')).toEqual(['b', 'a']);
      expect((await store.getUser('k1'))?.ts).toBe(2);
      expect([...((await store.getUser('k1'))?.vec ?? [])]).toEqual([1, 2, 3, 4]);
    });

    it('refuses a batch that records clicks of a user it does not write, naming the user, and changes nothing', async () => {
      const batch = {
        partition: 'g/no-user/0',
        expectedOffset: null,
        nextOffset: '1',
        effects: effects({ clicked: new Map([['ghost', new Map([['a', 1]])]]) }),
        analytics: undefined,
      };
      await expect(store.commit(batch)).rejects.toThrow('a batch records clicks of user "ghost" but does not write the user');
      expect(await store.readOffset('g/no-user/0')).toBeNull();
      expect(await store.getClicked('ghost')).toEqual([]);
    });

    it('tells a clicked id apart from a longer one that holds it with its stored length before it', async () => {
      // Stored, an item is its time, its id's length as two bytes, and its id: "\u0002\u0000ab" is
      // how "ab" is stored after its time, and here it is also part of another id.
      const inner = 'q\u0002\u0000abq';
      const commit = clicksOf(store, 'g/inner/0', 'n1');
      expect(await commit('1', null, [[inner, 10], ['c', 5]])).toBe(true);
      expect(await commit('2', '1', [['ab', 20]])).toBe(true);
      expect(await store.getClicked('n1')).toEqual(['ab', inner, 'c']);
      expect(await commit('3', '2', [['c', 30], [inner, 25]])).toBe(true);
      expect(await store.getClicked('n1')).toEqual(['c', inner, 'ab']);
    });

    it('merges clicked items over many batches as one sorted list would: clicked again, late, tied, past the cap', async () => {
      // A seeded stream of batches for one user: new items, items clicked again (earlier or
      // later than before), clicks tied in time, and enough items to pass the cap and its slack.
      let seed = 7;
      const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
      const expected = new Map<string, number>();
      let clock = 1_000;
      let offset: string | null = null;
      for (let b = 0; b < 80; b++) {
        const clicks = new Map<string, number>();
        for (let n = 0; n < 12; n++) {
          const known = [...expected.keys()];
          const again = known.length > 0 && random() < 0.3;
          const id = again ? (known[Math.floor(random() * known.length)] as string) : `m${b}-${n}${random() < 0.1 ? '\u00e9' : ''}`;
          // Mostly later than all before; sometimes late, sometimes tied with the batch's last.
          const r = random();
          const ts = r < 0.15 ? clock - Math.floor(random() * 5_000) : r < 0.3 ? clock : (clock += 1 + Math.floor(random() * 50));
          clicks.set(id, Math.max(clicks.get(id) ?? -Infinity, ts));
        }
        for (const [id, ts] of clicks) expected.set(id, Math.max(expected.get(id) ?? -Infinity, ts));
        const next = String(b + 1);
        expect(await store.commit({
          partition: 'g/merge/0',
          expectedOffset: offset,
          nextOffset: next,
          effects: effects({ users: new Map([['m1', user(clock, [1, 0, 0, 0])]]), clicked: new Map([['m1', clicks]]) }),
          analytics: undefined,
        })).toBe(true);
        offset = next;
        const want = [...expected]
          .sort((x, y) => y[1] - x[1] || Buffer.compare(Buffer.from(y[0]), Buffer.from(x[0])))
          .slice(0, CLICKED_MAX_ITEMS)
          .map(([id]) => id);
        // Items that fell past the cap are forgotten: a later click brings them back as new.
        for (const id of [...expected.keys()]) if (!want.includes(id)) expected.delete(id);
        expect(await store.getClicked('m1')).toEqual(want);
      }
      expect(expected.size).toBe(CLICKED_MAX_ITEMS);
    });

    it('refuses a batch whose expected offset is stale (fencing)', async () => {
      const ok = await store.commit({
        partition: 'g/t/0',
        expectedOffset: '5',
        nextOffset: '12',
        effects: effects({ items: new Map([['i1', item(5000, 0.5, 3)]]), counts: new Map([['i1', { views: 100, clicks: 100 }]]), clock: 5000 }),
        analytics: undefined,
      });
      expect(ok).toBe(false);
      expect(await store.readOffset('g/t/0')).toBe('10');
      expect(await store.getItemCounts('i1')).toEqual({ views: 5, clicks: 3 });
      expect(await store.clock()).toBe(1000);
    });

    it('adds counters across batches and never moves the clock back', async () => {
      const ok = await store.commit({
        partition: 'g/t/0',
        expectedOffset: '10',
        nextOffset: '20',
        effects: effects({ items: new Map([['i1', item(1000, 0.5, 3)]]), counts: new Map([['i1', { views: 2, clicks: 0 }]]), clock: 500 }),
        analytics: undefined,
      });
      expect(ok).toBe(true);
      expect(await store.getItemCounts('i1')).toEqual({ views: 7, clicks: 3 });
      expect(await store.clock()).toBe(1000);
    });

    it('lists changed items by sequence', async () => {
      const all = await store.itemsChangedSince(0);
      expect(all.items.map(([id]) => id).sort()).toEqual(['i1', 'i2']);
      const none = await store.itemsChangedSince(all.seq);
      expect(none.items).toEqual([]);
      await store.commit({
        partition: 'g/t/1',
        expectedOffset: null,
        nextOffset: '1',
        effects: effects({ items: new Map([['i3', item(2000, 0, 1)]]), clock: 2000 }),
        analytics: undefined,
      });
      const next = await store.itemsChangedSince(all.seq);
      expect(next.items.map(([id]) => id)).toEqual(['i3']);
      expect(next.seq).toBeGreaterThan(all.seq);
    });

    it('loads a snapshot of the requested records only', async () => {
      const snapshot = await store.loadSnapshot(['u1', 'u9'], ['i1', 'i9']);
      expect([...snapshot.users.keys()]).toEqual(['u1']);
      expect([...snapshot.items.keys()]).toEqual(['i1']);
    });

    it('keeps the latest content event per item', async () => {
      const first = { itemId: 'n1', publishedAt: 1000, category: 'news', title: 'Old title' };
      const second = { itemId: 'n1', publishedAt: 2000, category: 'news', title: 'New title', ttlSeconds: 600 };
      for (const [i, content] of [first, second].entries()) {
        const ok = await store.commit({
          partition: 'g/contents/0',
          expectedOffset: i === 0 ? null : String(i),
          nextOffset: String(i + 1),
          effects: undefined,
          analytics: undefined,
          contents: [content],
        });
        expect(ok).toBe(true);
      }
      expect(await store.getContent('n1')).toEqual(second);
      expect(await store.getContent('n2')).toBeUndefined();
    });

    it('reads several content events at once, and the freshest since a time', async () => {
      const contents = [
        { itemId: 'f1', publishedAt: 5000, category: 'sport' },
        { itemId: 'f2', publishedAt: 7000, ttlSeconds: 60 },
        { itemId: 'f3', publishedAt: 6000, category: 'news', title: 'Third' },
      ];
      const ok = await store.commit({
        partition: 'g/contents/1',
        expectedOffset: null,
        nextOffset: '3',
        effects: undefined,
        analytics: undefined,
        contents,
      });
      expect(ok).toBe(true);
      expect(await store.getContents(['f3', 'missing', 'f1'])).toEqual([contents[2], undefined, contents[0]]);
      expect(await store.getContents([])).toEqual([]);
      expect(await store.freshContent(5500, 10)).toEqual([contents[1], contents[2]]);
      expect((await store.freshContent(0, 2)).map((c) => c.itemId)).toEqual(['f2', 'f3']);
      expect(await store.freshContent(8000, 10)).toEqual([]);
      expect(await store.freshContent(0, 0)).toEqual([]);
      // Up to a time, inclusive: the newest at or before it come first.
      expect((await store.freshContent(5000, 10, 6000)).map((c) => c.itemId)).toEqual(['f3', 'f1']);
      expect((await store.freshContent(5000, 1, 6999)).map((c) => c.itemId)).toEqual(['f3']);
      expect(await store.freshContent(5500, 10, 5999)).toEqual([]);
    });

    it('merges concurrent changes of one item from two partitions: counters add, learned values average', async () => {
      const rates = { item: Math.LN2 / 1000, trending: Math.LN2 / 500 };
      const base: ItemRecord = { ts: 1000, bias: 0.8, views: 4, clicks: 2, vec: Float32Array.from([0.5, -0.25, 0.125, 1]) };
      const seed = await store.commit({
        partition: 'g/m/0',
        expectedOffset: null,
        nextOffset: '1',
        effects: effects({ items: new Map([['m1', base]]), clock: 1000 }),
        analytics: undefined,
      });
      expect(seed).toBe(true);
      // Both batches read the same stored record; the second lands after the first.
      const first: ItemRecord = { ts: 2000, bias: 0.4 + 0.1, views: 1 + 1, clicks: 0.5 + 1, vec: Float32Array.from([1, 0, 0, 1]) };
      const second: ItemRecord = { ts: 1500, bias: 0.8 * Math.SQRT1_2 - 0.2, views: 4 * 0.5, clicks: 2 * 0.5, vec: Float32Array.from([0.5, -0.25, 0.625, 1]) };
      for (const [index, result] of [first, second].entries()) {
        const ok = await store.commit({
          partition: `g/m/${index + 1}`,
          expectedOffset: null,
          nextOffset: '1',
          effects: effects({
            items: new Map([['m1', result]]),
            itemBases: new Map([['m1', { record: base, stored: true }]]),
            counts: new Map(index === 0 ? [['m1', { views: 1, clicks: 1 }]] : []),
            rates,
            clock: result.ts,
          }),
          analytics: undefined,
        });
        expect(ok).toBe(true);
        // The first batch found the record it read: it is written exactly as computed.
        if (index === 0) expect(await store.getItem('m1')).toEqual(first);
      }
      const merged = await store.getItem('m1');
      // At ts 2000: the first batch's record found the base and was written whole; the second
      // found it changed, so the learned bias and vector are averaged (the second bias aged by
      // one half-life, 500 ms) and its added counters (none) are added.
      expect(merged?.ts).toBe(2000);
      expect(merged?.bias).toBeCloseTo((0.5 + (0.8 * Math.SQRT1_2 - 0.2) * Math.SQRT1_2) / 2, 9);
      expect(merged?.views).toBeCloseTo(2, 9);
      expect(merged?.clicks).toBeCloseTo(1.5, 9);
      expect([...(merged?.vec ?? [])]).toEqual([0.75, -0.125, 0.3125, 1]);
      // Only the clicked batch moved the score; aging alone leaves ln(clicks) + rate * ts as it is.
      const trend = (await store.trending(TRENDING_CAP)).find((s) => s.id === 'm1');
      expect(trend?.score).toBeCloseTo(Math.log(1.5) + rates.trending * 2000, 9);
    });

    it('writes a batch whole when the item is as it read it, and merges an item two batches created at once', async () => {
      const rates = { item: 0, trending: 0 };
      const start: ItemRecord = { ts: 10, bias: 0, views: 0, clicks: 0, vec: Float32Array.from([0.25, 0.25, 0.25, 0.25]) };
      const step = (bias: number, f: number): ItemRecord => {
        const vec = Float32Array.from(start.vec);
        vec[f] = 1;
        return { ts: 10, bias, views: 1, clicks: 1, vec };
      };
      for (const [index, result] of [step(0.25, 0), step(0.5, 1)].entries()) {
        await store.commit({
          partition: `g/n/${index}`,
          expectedOffset: null,
          nextOffset: '1',
          effects: effects({
            items: new Map([['n1', result]]),
            itemBases: new Map([['n1', { record: start, stored: false }]]),
            rates,
            clock: 10,
          }),
          analytics: undefined,
        });
      }
      expect(await store.getItem('n1')).toEqual({ ts: 10, bias: 0.375, views: 2, clicks: 2, vec: Float32Array.from([0.625, 0.625, 0.25, 0.25]) });
      await store.commit({
        partition: 'g/n/2',
        expectedOffset: null,
        nextOffset: '1',
        effects: effects({ items: new Map([['n1', start]]), clock: 10 }),
        analytics: undefined,
      });
      expect(await store.getItem('n1')).toEqual(start);
    });

    it('merges or writes whole each item of a batch of thousands, by what each one holds', async () => {
      const ids = Array.from({ length: 2_500 }, (_, n) => `big-${n}`);
      const record = (bias: number, views: number, vec: number[]): ItemRecord => ({ ts: 10, bias, views, clicks: 0, vec: Float32Array.from(vec) });
      const base = record(0, 0, [0, 0, 0, 0]);
      const other = record(1, 0, [1, 1, 1, 1]);
      const result = record(0.5, 1, [0.5, 0, 0, 0]);
      const commit = (partition: string, partial: Partial<BatchEffects>) =>
        store.commit({ partition, expectedOffset: null, nextOffset: '1', effects: effects({ clock: 10, ...partial }), analytics: undefined });
      expect(await commit('g/big/0', { items: new Map(ids.map((id) => [id, base])) })).toBe(true);
      // Another batch rewrites every third item before this one lands.
      const changed = ids.filter((_, n) => n % 3 === 0);
      expect(await commit('g/big/1', { items: new Map(changed.map((id) => [id, other])) })).toBe(true);
      expect(
        await commit('g/big/2', {
          items: new Map(ids.map((id) => [id, result])),
          itemBases: new Map(ids.map((id) => [id, { record: base, stored: true }])),
        }),
      ).toBe(true);
      const merged = record(0.75, 1, [0.75, 0.5, 0.5, 0.5]);
      for (const [n, id] of ids.entries()) {
        expect(await store.getItem(id), id).toEqual(n % 3 === 0 ? merged : result);
      }
    });

    it('keeps ids of any characters apart, multi-byte ones included', async () => {
      const [u, i] = ['사용자 ü\u0000 1', 'é:i\n'.repeat(64)];
      const ok = await store.commit({
        partition: 'g/utf/0',
        expectedOffset: null,
        nextOffset: '1',
        effects: effects({
          users: new Map([[u, user(3000, [4, 3, 2, 1])]]),
          items: new Map([[i, item(3000, 0.25, 1)]]),
          counts: new Map([[i, { views: 70_000, clicks: 1 }]]),
          clicked: new Map([[u, new Map([[i, 3000]])]]),
          clock: 3000,
        }),
        analytics: undefined,
      });
      expect(ok).toBe(true);
      expect([...((await store.getUser(u))?.vec ?? [])]).toEqual([4, 3, 2, 1]);
      expect(await store.getItem(i)).toMatchObject({ ts: 3000, bias: 0.25, clicks: 1 });
      expect(await store.getItemCounts(i)).toEqual({ views: 70_000, clicks: 1 });
      expect(await store.getClicked(u)).toEqual([i]);
    });

    it('keeps analytics batches until acknowledged', async () => {
      const pending = await store.pendingAnalytics(10);
      expect(pending).toEqual([{ batchId: 't/0/0-9', rows: [{ minute: 60, itemId: 'i1', views: 5, clicks: 3 }] }]);
      await store.ackAnalytics(['t/0/0-9']);
      expect(await store.pendingAnalyticsCount()).toBe(0);
    });

    it('reads pending analytics batches up to a count, and up to a number of item and user rows', async () => {
      const ids = ['an/0', 'an/1', 'an/2'];
      for (const [at, batchId] of ids.entries()) {
        const ok = await store.commit({
          partition: 'g/an/0',
          expectedOffset: at === 0 ? null : String(at),
          nextOffset: String(at + 1),
          effects: effects({ clock: 4000 }),
          // Two rows each: one item row and one user row.
          analytics: {
            batchId,
            rows: [{ minute: 60, itemId: `i${at}`, views: 1, clicks: 0 }],
            users: [{ day: 0, userId: `u${at}`, events: 1, pushOpens: 0 }],
          },
        });
        expect(ok).toBe(true);
      }
      expect((await store.pendingAnalytics(10)).map((b) => b.batchId).sort()).toEqual(ids);
      expect(await store.pendingAnalytics(2)).toHaveLength(2);
      // Batches while their rows stay within the bound; one that would pass it is left for the
      // next write, but a first batch holding more than the bound goes alone.
      const rowsRead = async (limit: number, maxRows: number) => (await store.pendingAnalytics(limit, maxRows)).map((b) => b.rows.length + (b.users?.length ?? 0));
      expect(await rowsRead(10, 1)).toEqual([2]);
      expect(await rowsRead(10, 2)).toEqual([2]);
      expect(await rowsRead(10, 3)).toEqual([2]);
      expect(await rowsRead(10, 4)).toEqual([2, 2]);
      expect(await rowsRead(10, 5)).toEqual([2, 2]);
      expect(await rowsRead(10, 6)).toEqual([2, 2, 2]);
      expect(await rowsRead(1, 6)).toEqual([2]);
      await store.ackAnalytics(ids);
      expect(await store.pendingAnalyticsCount()).toBe(0);
    });
  });
}
