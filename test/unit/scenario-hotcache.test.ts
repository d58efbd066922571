import { describe, expect, it } from 'vitest';
import type { ItemRecord } from '../../src/model/records.ts';
import { CachedStateStore, HotCache } from '../../src/serve/cache.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function clock(start = 1000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('hot-key cache', () => {
  it('makes one read for 200 concurrent misses of a key, then serves hits until the TTL ends', async () => {
    const time = clock();
    const cache = new HotCache<string>({ ttlMs: 500, maxEntries: 10, now: time.now });
    let reads = 0;
    const load = deferred<string>();
    const answers = Array.from({ length: 200 }, () =>
      cache.get('hot', () => (reads++, load.promise)),
    );
    load.resolve('value');
    expect(await Promise.all(answers)).toEqual(Array(200).fill('value'));
    expect(reads).toBe(1);
    expect(cache.stats).toEqual({ hits: 0, coalesced: 199, misses: 1 });

    time.t += 499;
    expect(await cache.get('hot', async () => (reads++, 'newer'))).toBe('value');
    time.t += 1;
    expect(await cache.get('hot', async () => (reads++, 'newer'))).toBe('newer');
    expect(reads).toBe(2);
  });

  it('forgets keys on request, and does not keep a read that was in flight when forgotten', async () => {
    const cache = new HotCache<string>({ ttlMs: 60_000, maxEntries: 10 });
    expect(await cache.get('a', async () => 'a1')).toBe('a1');
    const slow = deferred<string>();
    const before = cache.get('b', () => slow.promise);
    cache.forget(['a', 'b']);
    slow.resolve('b-before-change');
    expect(await before).toBe('b-before-change');
    expect(await cache.get('a', async () => 'a2')).toBe('a2');
    expect(await cache.get('b', async () => 'b-after-change')).toBe('b-after-change');
    expect(await cache.get('b', async () => 'b3')).toBe('b-after-change');
  });

  it('with a TTL of 0 only coalesces: the next request reads again', async () => {
    const cache = new HotCache<number>({ ttlMs: 0, maxEntries: 10 });
    let reads = 0;
    const load = async () => ++reads;
    expect(await Promise.all([cache.get('k', load), cache.get('k', load)])).toEqual([1, 1]);
    expect(await cache.get('k', load)).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('keeps no failed read: every waiter sees the error, the next request reads again', async () => {
    const cache = new HotCache<string>({ ttlMs: 1000, maxEntries: 10 });
    const load = deferred<string>();
    const a = cache.get('k', () => load.promise);
    const b = cache.get('k', () => load.promise);
    load.reject(new Error('redis down'));
    await expect(a).rejects.toThrow('redis down');
    await expect(b).rejects.toThrow('redis down');
    expect(await cache.get('k', async () => 'back')).toBe('back');
  });

  it('reads the missing keys of a batch in one call, joining reads in flight and repeated keys', async () => {
    const cache = new HotCache<string>({ ttlMs: 1000, maxEntries: 10 });
    const calls: string[][] = [];
    const slow = deferred<string[]>();
    const first = cache.getMany(['a', 'b'], (missing) => (calls.push(missing), slow.promise));
    const second = cache.getMany(
      ['b', 'c', 'c', 'a'],
      async (missing) => (calls.push(missing), missing.map((k) => k.toUpperCase())),
    );
    slow.resolve(['a1', 'b1']);
    expect(await first).toEqual(['a1', 'b1']);
    expect(await second).toEqual(['b1', 'C', 'C', 'a1']);
    expect(calls).toEqual([['a', 'b'], ['c']]);
  });

  it('drops the oldest values beyond maxEntries', async () => {
    const cache = new HotCache<number>({ ttlMs: 1000, maxEntries: 2 });
    for (const [i, key] of ['a', 'b', 'c'].entries()) await cache.get(key, async () => i);
    expect(cache.size).toBe(2);
    expect(await cache.get('a', async () => 99)).toBe(99);
    expect(await cache.get('c', async () => 99)).toBe(2);
  });
});

class CountingStore extends MemoryStateStore {
  readonly calls = new Map<string, number>();
  private count(name: string) {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
  }
  override async getItem(id: string) {
    this.count('getItem');
    return super.getItem(id);
  }
  override async loadSnapshot(users: readonly string[], items: readonly string[]) {
    this.count('loadSnapshot');
    return super.loadSnapshot(users, items);
  }
  override async trending(k: number) {
    this.count(`trending:${k}`);
    return super.trending(k);
  }
  override async getUser(id: string) {
    this.count('getUser');
    return super.getUser(id);
  }
}

const record = (ts: number, clicks = 1): ItemRecord => ({
  ts,
  bias: 0,
  views: 2,
  clicks,
  vec: Float32Array.from([1, 0]),
});

describe('cached state store', () => {
  it('shares one read of an item between getItem and getItems, and one trending read between sizes', async () => {
    const inner = new CountingStore();
    const effects = {
      users: new Map(),
      items: new Map([
        ['hot', record(5, Math.E ** 2)],
        ['cold', record(6, Math.E)],
      ]),
      itemBases: new Map(),
      rates: { item: 0, trending: 0 },
      counts: new Map(),
      clicked: new Map(),
      clock: 6,
    };
    await inner.commit({
      partition: 'p',
      expectedOffset: null,
      nextOffset: '1',
      effects,
      analytics: undefined,
    });
    const store = new CachedStateStore(inner, { ttlMs: 60_000, maxEntries: 100 });

    const [one, many] = await Promise.all([
      store.getItem('hot'),
      store.getItems(['hot', 'cold', 'nope']),
    ]);
    expect(one?.ts).toBe(5);
    expect(many.map((r) => r?.ts)).toEqual([5, 6, undefined]);
    expect(inner.calls.get('getItem')).toBe(1);
    expect(inner.calls.get('loadSnapshot')).toBe(1);

    expect((await store.trending(5)).map((s) => s.id)).toEqual(['hot', 'cold']);
    expect((await store.trending(50)).map((s) => s.id)).toEqual(['hot', 'cold']);
    expect(await store.trending(1)).toEqual([{ id: 'hot', score: 2 }]);
    expect(inner.calls.get('trending:100')).toBe(1);
  });

  it('coalesces user reads but never keeps them', async () => {
    const inner = new CountingStore();
    const store = new CachedStateStore(inner, { ttlMs: 60_000, maxEntries: 100 });
    await Promise.all([store.getUser('u'), store.getUser('u'), store.getUser('u')]);
    expect(inner.calls.get('getUser')).toBe(1);
    await store.getUser('u');
    expect(inner.calls.get('getUser')).toBe(2);
  });

  it("sees this process's own commits at once: counters, the clock and trending are forgotten", async () => {
    const inner = new CountingStore();
    const store = new CachedStateStore(inner, { ttlMs: 60_000, maxEntries: 100 });
    const commit = (offset: string | null, next: string, clicks: number, clock: number) =>
      inner.commit({
        partition: 'p',
        expectedOffset: offset,
        nextOffset: next,
        effects: {
          users: new Map(),
          items: new Map([['x', record(clock, clicks)]]),
          itemBases: new Map(),
          rates: { item: 0, trending: 0 },
          counts: new Map([['x', { views: 0, clicks }]]),
          clicked: new Map(),
          clock,
        },
        analytics: undefined,
      });
    await commit(null, '1', 1, 10);
    expect(await store.getItemCounts('x')).toEqual({ views: 0, clicks: 1 });
    expect(await store.clock()).toBe(10);
    expect((await store.getItem('x'))?.clicks).toBe(1);
    await commit('1', '2', 2, 20);
    expect(await store.getItemCounts('x')).toEqual({ views: 0, clicks: 1 }); // within the TTL
    store.committed(['x']);
    expect(await store.getItemCounts('x')).toEqual({ views: 0, clicks: 3 });
    expect(await store.clock()).toBe(20);
    expect((await store.getItem('x'))?.clicks).toBe(2);
  });
});
