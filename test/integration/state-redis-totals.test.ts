import { afterAll, describe, expect, it } from 'vitest';
import type { BatchEffects } from '../../src/model/online-mf.ts';
import { encodeItem, type ItemRecord } from '../../src/model/records.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import { deletePrefix, service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');

const item = (dims: number, clicks: number, vec?: number[]): ItemRecord => ({
  ts: 1000,
  bias: 0.1,
  views: 1,
  clicks,
  vec: Float32Array.from(vec ?? Array.from({ length: dims }, (_, f) => (f === 0 ? 1 : 0))),
});

/** A batch writing `items` (each counted as given), with bases when `bases` is set. */
function batch(dims: number, counts: Record<string, { views: number; clicks: number }>, bases?: Map<string, { record: ItemRecord; stored: boolean }>): BatchEffects {
  const ids = Object.keys(counts);
  return {
    users: new Map(),
    items: new Map(ids.map((id) => [id, item(dims, 1)])),
    itemBases: bases ?? new Map(),
    rates: { item: 0, trending: 0 },
    counts: new Map(ids.map((id) => [id, counts[id]!])),
    clicked: new Map(),
    clock: 1000,
  };
}

describe.skipIf(url === undefined)("redis: an item's exact totals in its record", () => {
  const prefixes: string[] = [];
  const stores: RedisStateStore[] = [];
  const open = (prefix: string, dims: number, itemMs = 0) => {
    const s = new RedisStateStore({ url: url as string, prefix, dimensions: dims, ttl: { userMs: 0, itemMs } });
    stores.push(s);
    return s;
  };
  const fresh = () => {
    const p = `${uniqueName('totals')}:`;
    prefixes.push(p);
    return p;
  };
  afterAll(async () => {
    for (const p of prefixes) await deletePrefix(stores[0]!.client, p);
    await Promise.all(stores.map((s) => s.close()));
  });

  it('reads a record with totals as absent under another dimension, even one whose bare record has its length', async () => {
    const prefix = fresh();
    const four = open(prefix, 4);
    const eight = open(prefix, 8);
    expect(await four.commit({ partition: 'g/x/0', expectedOffset: null, nextOffset: '1', effects: batch(4, { x: { views: 3, clicks: 1 } }), analytics: undefined })).toBe(true);
    expect.soft(await four.getItemCounts('x')).toEqual({ views: 3, clicks: 1 });
    // 32 + 4 × 4 bytes of record and 17 of totals: an odd length, which no bare record has.
    expect(await eight.client.strlen(`${prefix}i:x`)).toBe(65);
    const misread = await eight.getItem('x');
    expect.soft(misread, `decoded as an 8-dimension record: ${JSON.stringify(misread && [...misread.vec])}`).toBeUndefined();
    expect.soft((await eight.loadSnapshot([], ['x'])).items.has('x')).toBe(false);
    expect.soft((await eight.itemsChangedSince(0)).items).toEqual([]);
  });

  it("reads an earlier version's record of another dimension as absent, its totals from its hash, and starts both again at its next write", async () => {
    const prefix = fresh();
    const four = open(prefix, 4);
    // As the earlier version left it under DIMENSIONS=8: the record alone (64 bytes), totals in ic:.
    await four.client.set(`${prefix}i:y`, encodeItem(item(8, 2, [1, 0, 0, 0, 1, 2, 3, 4])));
    await four.client.hset(`${prefix}ic:y`, 'views', 7, 'clicks', 2);
    const counts = await four.getItemCounts('y');
    expect.soft(counts).toEqual({ views: 7, clicks: 2 });
    expect.soft(await four.getItem('y')).toBeUndefined();
    // Its next write under dims 4 starts it from nothing.
    expect(await four.commit({ partition: 'g/y/0', expectedOffset: null, nextOffset: '1', effects: batch(4, { y: { views: 1, clicks: 0 } }), analytics: undefined })).toBe(true);
    expect.soft(await four.getItemCounts('y')).toEqual({ views: 1, clicks: 0 });
    expect(await four.client.exists(`${prefix}ic:y`)).toBe(0);
  });

  it('reads a record whose totals have another format as absent, and starts it and its totals again at its next write', async () => {
    const prefix = fresh();
    const four = open(prefix, 4);
    const record = encodeItem(item(4, 2));
    const totals = Buffer.alloc(17);
    totals[0] = 2;
    totals.writeDoubleLE(9, 1);
    totals.writeDoubleLE(9, 9);
    await four.client.set(`${prefix}i:f`, Buffer.concat([record, totals]));
    expect(await four.getItem('f')).toBeUndefined();
    expect((await four.loadSnapshot([], ['f'])).items.has('f')).toBe(false);
    expect(await four.getItemCounts('f')).toEqual({ views: 0, clicks: 0 });
    expect(await four.commit({ partition: 'g/f/0', expectedOffset: null, nextOffset: '1', effects: batch(4, { f: { views: 1, clicks: 0 } }), analytics: undefined })).toBe(true);
    expect(await four.getItemCounts('f')).toEqual({ views: 1, clicks: 0 });
  });

  it('refuses a batch that counts views of an item it does not write, naming the item', async () => {
    const four = open(fresh(), 4);
    const effects = batch(4, { written: { views: 1, clicks: 0 } });
    effects.counts.set('unwritten', { views: 1, clicks: 0 });
    await expect(four.commit({ partition: 'g/u/0', expectedOffset: null, nextOffset: '1', effects, analytics: undefined })).rejects.toThrow(
      'a batch counts views or clicks of item "unwritten" but does not write it',
    );
  });

  it('reads totals consistently while a commit moves them from the hash into the record between its two reads', async () => {
    const prefix = fresh();
    const reader = open(prefix, 4);
    const engine = open(prefix, 4);
    await reader.client.set(`${prefix}i:m`, encodeItem(item(4, 2)));
    await reader.client.hset(`${prefix}ic:m`, 'views', 7, 'clicks', 2);
    // Another engine's commit lands between the reader's GET and its HMGET.
    const real = reader.client.hmget.bind(reader.client);
    let interleaved = false;
    (reader.client as unknown as { hmget: typeof real }).hmget = (async (...args: Parameters<typeof real>) => {
      if (!interleaved) {
        interleaved = true;
        expect(await engine.commit({ partition: 'g/m/0', expectedOffset: null, nextOffset: '1', effects: batch(4, { m: { views: 1, clicks: 0 } }), analytics: undefined })).toBe(true);
      }
      return real(...args);
    }) as typeof real;
    const counts = await reader.getItemCounts('m');
    expect(interleaved).toBe(true);
    // Before the commit the totals were {7, 2}, after it {8, 2}: never {0, 0}.
    expect(counts).not.toEqual({ views: 0, clicks: 0 });
    expect(await engine.getItemCounts('m')).toEqual({ views: 8, clicks: 2 });
  });

  it("deletes an earlier version's hash when its record, of another dimension, starts again from nothing", async () => {
    const prefix = fresh();
    const four = open(prefix, 4);
    // A 6-dimension record of the earlier version (56 bytes: neither 48 nor 64), with its hash.
    await four.client.set(`${prefix}i:z`, encodeItem(item(6, 2)));
    await four.client.hset(`${prefix}ic:z`, 'views', 5, 'clicks', 5);
    expect(await four.commit({ partition: 'g/z/0', expectedOffset: null, nextOffset: '1', effects: batch(4, { z: { views: 1, clicks: 0 } }), analytics: undefined })).toBe(true);
    expect(await four.getItemCounts('z')).toEqual({ views: 1, clicks: 0 });
    expect(await four.client.exists(`${prefix}ic:z`)).toBe(0);
  });

  it('adds the counts of concurrent commits of one item from two stores, and nothing of a fenced or replayed batch', async () => {
    const prefix = fresh();
    const a = open(prefix, 4);
    const b = open(prefix, 4);
    expect(await a.commit({ partition: 'g/c/0', expectedOffset: null, nextOffset: '1', effects: batch(4, { c: { views: 10, clicks: 1 } }), analytics: undefined })).toBe(true);
    const snapA = await a.loadSnapshot([], ['c']);
    const snapB = await b.loadSnapshot([], ['c']);
    const baseA = new Map([['c', { record: snapA.items.get('c')!, stored: true }]]);
    const baseB = new Map([['c', { record: snapB.items.get('c')!, stored: true }]]);
    expect(await a.commit({ partition: 'g/c/0', expectedOffset: '1', nextOffset: '2', effects: batch(4, { c: { views: 2, clicks: 1 } }, baseA), analytics: undefined })).toBe(true);
    expect(await b.commit({ partition: 'g/c/1', expectedOffset: null, nextOffset: '1', effects: batch(4, { c: { views: 5, clicks: 0 } }, baseB), analytics: undefined })).toBe(true);
    expect(await a.getItemCounts('c')).toEqual({ views: 17, clicks: 2 });
    // Fenced (stale expected offset) and replayed (same batch again) add nothing.
    expect(await b.commit({ partition: 'g/c/1', expectedOffset: null, nextOffset: '1', effects: batch(4, { c: { views: 5, clicks: 0 } }, baseB), analytics: undefined })).toBe(false);
    expect(await a.commit({ partition: 'g/c/0', expectedOffset: '0', nextOffset: '9', effects: batch(4, { c: { views: 99, clicks: 99 } }), analytics: undefined })).toBe(false);
    expect(await a.getItemCounts('c')).toEqual({ views: 17, clicks: 2 });
  });

  it('adds the counts of two batches that both created an item, and moves a hash of one field, of huge counts or with a TTL', async () => {
    const prefix = fresh();
    const a = open(prefix, 4);
    const created = new Map([['n', { record: item(4, 0), stored: false }]]);
    expect(await a.commit({ partition: 'g/n/0', expectedOffset: null, nextOffset: '1', effects: batch(4, { n: { views: 1, clicks: 0 } }, created), analytics: undefined })).toBe(true);
    expect(await a.commit({ partition: 'g/n/1', expectedOffset: null, nextOffset: '1', effects: batch(4, { n: { views: 2, clicks: 1 } }, created), analytics: undefined })).toBe(true);
    expect(await a.getItemCounts('n')).toEqual({ views: 3, clicks: 1 });

    await a.client.set(`${prefix}i:h`, encodeItem(item(4, 2)));
    await a.client.hset(`${prefix}ic:h`, 'clicks', 4);
    await a.client.pexpire(`${prefix}ic:h`, 600_000);
    expect(await a.getItemCounts('h')).toEqual({ views: 0, clicks: 4 });
    const big = 2 ** 40;
    await a.client.set(`${prefix}i:g`, encodeItem(item(4, 2)));
    await a.client.hset(`${prefix}ic:g`, 'views', String(big), 'clicks', String(big - 1));
    expect(await a.commit({ partition: 'g/h/0', expectedOffset: null, nextOffset: '1', effects: batch(4, { h: { views: 1, clicks: 1 }, g: { views: big, clicks: 1 } }), analytics: undefined })).toBe(true);
    expect(await a.getItemCounts('h')).toEqual({ views: 1, clicks: 5 });
    expect(await a.getItemCounts('g')).toEqual({ views: 2 * big, clicks: big });
    expect(await a.client.exists(`${prefix}ic:h`, `${prefix}ic:g`)).toBe(0);
    expect(await a.client.pttl(`${prefix}i:h`)).toBe(-1);
  });

  it("starts an expired earlier-version item again from nothing, deleting its hash, and sweeps an unswept one's hash with its record", async () => {
    const prefix = fresh();
    const s = open(prefix, 4, 300);
    await s.client.set(`${prefix}i:e`, encodeItem(item(4, 2)));
    await s.client.hset(`${prefix}ic:e`, 'views', 9, 'clicks', 9);
    await s.client.zadd(`${prefix}iseq`, Date.now() - 10_000, 'e');
    expect((await s.loadSnapshot([], ['e'])).items.has('e')).toBe(false);
    const created = new Map([['e', { record: item(4, 0), stored: false }]]);
    expect(await s.commit({ partition: 'g/e/0', expectedOffset: null, nextOffset: '1', effects: batch(4, { e: { views: 1, clicks: 0 } }, created), analytics: undefined, readAt: Date.now() })).toBe(true);
    expect(await s.getItemCounts('e')).toEqual({ views: 1, clicks: 0 });
    expect(await s.client.exists(`${prefix}ic:e`)).toBe(0);
    // And an unswept expired old-format item goes with its hash at the next commit's sweep.
    await s.client.set(`${prefix}i:f`, encodeItem(item(4, 2)));
    await s.client.hset(`${prefix}ic:f`, 'views', 9);
    await s.client.zadd(`${prefix}iseq`, Date.now() - 10_000, 'f');
    expect(await s.commit({ partition: 'g/e/0', expectedOffset: '1', nextOffset: '2', effects: batch(4, { other: { views: 1, clicks: 0 } }), analytics: undefined })).toBe(true);
    expect(await s.client.exists(`${prefix}i:f`, `${prefix}ic:f`)).toBe(0);
  });
});
