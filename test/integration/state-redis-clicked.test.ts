import { afterAll, describe, expect, it } from 'vitest';
import type { BatchEffects } from '../../src/model/online-mf.ts';
import { seededRandom } from '../../src/model/random.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import { service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');

/** A batch that writes these users, each with the clicks given (item -> time). */
function batch(clicks: Record<string, Record<string, number>>): BatchEffects {
  const users = Object.keys(clicks);
  return {
    users: new Map(users.map((id, n) => [id, { ts: 1000 + n, count: n + 1, vec: Float32Array.from([n, 1, 0, 0]) }])),
    items: new Map(),
    itemBases: new Map(),
    rates: { item: 0, trending: 0 },
    counts: new Map(),
    clicked: new Map(users.map((id) => [id, new Map(Object.entries(clicks[id] ?? {}))])),
    clock: 1000,
  };
}

describe.skipIf(url === undefined)('redis: a user value written whole from the batch read', () => {
  const stores: RedisStateStore[] = [];
  const open = (clickedMax: number) => {
    const prefix = `${uniqueName('clk')}:`;
    // What the store warns of: users whose value changed after the batch read it.
    const changed: number[] = [];
    const logger = { warn: (fields: { users?: number }) => void changed.push(fields.users ?? 0) };
    const store = new RedisStateStore({ url: url as string, prefix, dimensions: 4, clickedMax, logger: logger as never });
    stores.push(store);
    return Object.assign(store, { changed, value: (user: string) => store.client.getBuffer(`${prefix}u:${user}`) });
  };
  afterAll(async () => {
    for (const store of stores) await store.close();
  });

  it("stores the same bytes as the script's own merge, over random histories with clicks again, late clicks and cuts", async () => {
    const cap = 20;
    // Batches committed with the values they read (merged in the engine), and the same batches
    // without them (merged by the script), each on its own store.
    const engine = open(cap);
    const script = open(cap);
    const users = ['a', 'b', 'c', 'd', 'é'];
    let fastPathWrites = 0;
    for (let seed = 1; seed <= 12; seed++) {
      // Seeded, so that a failure names its case.
      const next = seededRandom(seed);
      for (let b = 0; b < 10; b++) {
        const clicks: Record<string, Record<string, number>> = {};
        for (const user of users) {
          if (next() < 0.3) continue;
          const mine: Record<string, number> = {};
          const n = Math.floor(next() * 12);
          for (let c = 0; c < n; c++) {
            // Few ids (even seeds), so that items come again, or many, so that lists grow past the cap;
            // times mostly rising, sometimes late, some ties.
            const id = `i${Math.floor(next() * (seed % 2 === 0 ? 30 : 200))}${next() < 0.1 ? 'x' : ''}`;
            mine[id] = Math.max(mine[id] ?? 0, seed * 1000 + b * 10 + Math.floor(next() * 30) - (next() < 0.2 ? 25 : 0));
          }
          clicks[`${seed}/${user}`] = mine;
        }
        const effects = batch(clicks);
        const ids = [...effects.users.keys()];
        const read = await engine.loadSnapshot(ids, []);
        const partition = `g/s${seed}/0`;
        const offsets = { expectedOffset: b === 0 ? null : String(b), nextOffset: String(b + 1) };
        expect(await engine.commit({ partition, ...offsets, effects, analytics: undefined, read })).toBe(true);
        expect(await script.commit({ partition, ...offsets, effects, analytics: undefined })).toBe(true);
        for (const id of ids) {
          const [mine, theirs] = await Promise.all([engine.value(id), script.value(id)]);
          expect(mine?.toString('hex'), `seed ${seed} batch ${b} user ${id}`).toBe(theirs?.toString('hex'));
          fastPathWrites++;
        }
      }
    }
    expect(fastPathWrites).toBeGreaterThan(300);
    // Each value was written as the engine merged it: none had changed since it was read.
    expect(engine.changed).toEqual([]);
    // Cut back to the cap at least once: 20 + 16 entries is more than a few batches hold.
    const counts = await Promise.all(users.map((u) => engine.getClicked(`12/${u}`)));
    expect(Math.max(...counts.map((c) => c.length))).toBe(cap);
  });

  it("merges in the script when the user's value changed after the batch read it, losing no click", async () => {
    const store = open(500);
    expect(await store.commit({ partition: 'g/a/0', expectedOffset: null, nextOffset: '1', effects: batch({ u: { x: 100 } }), analytics: undefined })).toBe(true);
    const read = await store.loadSnapshot(['u'], []);
    // Another writer (say, a second partition carrying this user) stores a click in between.
    expect(await store.commit({ partition: 'g/b/0', expectedOffset: null, nextOffset: '1', effects: batch({ u: { y: 300 } }), analytics: undefined })).toBe(true);
    expect(await store.commit({ partition: 'g/a/0', expectedOffset: '1', nextOffset: '2', effects: batch({ u: { z: 200 } }), analytics: undefined, read })).toBe(true);
    expect(await store.getClicked('u')).toEqual(['y', 'z', 'x']);
    expect(store.changed).toEqual([1]);
  });

  it('merges in the script for a user first stored after the batch read none', async () => {
    const store = open(500);
    const read = await store.loadSnapshot(['v'], []);
    expect(await store.commit({ partition: 'g/b/0', expectedOffset: null, nextOffset: '1', effects: batch({ v: { y: 300 } }), analytics: undefined })).toBe(true);
    expect(await store.commit({ partition: 'g/a/0', expectedOffset: null, nextOffset: '1', effects: batch({ v: { z: 200 } }), analytics: undefined, read })).toBe(true);
    expect(await store.getClicked('v')).toEqual(['y', 'z']);
    expect(store.changed).toEqual([1]);
  });
});
