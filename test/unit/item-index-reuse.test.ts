import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { ItemRecord } from '../../src/model/records.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';
import type { ItemChanges } from '../../src/state/store.ts';
import { ItemIndex } from '../../src/serve/item-index.ts';
import { Recommender } from '../../src/serve/recommender.ts';
import { similarToItems } from '../../src/scenarios/similar.ts';
import { Scorer } from '../../src/model/scoring.ts';
import { DEFAULT_MODEL_PARAMS } from '../../src/model/params.ts';
import { seededRandom } from '../../src/model/random.ts';

const record = (bias: number, vec: number[]): ItemRecord => ({ ts: 0, bias, views: 0, clicks: 0, vec: Float32Array.from(vec) });

class ScriptedStore extends MemoryStateStore {
  feed: ItemChanges[] = [];
  override async itemsChangedSince(seq: number): Promise<ItemChanges> {
    return this.feed.shift() ?? { seq, items: [] };
  }
}

/**
 * Random churn: items written, rewritten and left to expire, refreshes with and without turns of
 * the event loop in between (so that layouts are in flight while rows are released and taken),
 * checked against an independent model of which items are alive.
 */
describe('item index row reuse keeps rankings exact and ids current', () => {
  for (const seed of [1, 2]) {
    it(`under random churn, seed ${seed}`, async () => {
      const random = seededRandom(seed);
      const d = 8;
      const ttl = 60_000;
      let now = 1_000_000;
      const store = new ScriptedStore();
      const index = new ItemIndex(store, d, () => now, undefined, 300, ttl, { biasBands: 8, normBands: 4 });
      const scorer = new Scorer(DEFAULT_MODEL_PARAMS);
      const vector = () => {
        const scale = random() * 3;
        return Array.from({ length: d }, () => (random() - 0.5) * scale);
      };
      /** Every item ever written: its record and last write time. */
      const truth = new Map<string, { rec: ItemRecord; at: number }>();
      let next = 0;
      let seq = 1;
      let bounded = 0;
      let inFlight = 0;
      for (let step = 0; step < 60; step++) {
        if ((index as unknown as { layingOut?: unknown }).layingOut !== undefined) inFlight++;
        const items: ItemChanges['items'] = [];
        const fresh = Math.floor(random() * 200);
        for (let n = 0; n < fresh; n++) {
          const id = `n${next++}`;
          const rec = record((random() - 0.3) * 4, vector());
          items.push([id, rec, now]);
        }
        // Rewrite some known ids (live or expired: an expired one comes back).
        const known = [...truth.keys()];
        for (let n = 0; n < 40 && known.length > 0; n++) {
          const id = known[Math.floor(random() * known.length)] as string;
          items.push([id, record((random() - 0.3) * 4, vector()), now]);
        }
        for (const [id, rec, at] of items) truth.set(id, { rec, at });
        store.feed.push({ seq: ++seq, items });
        now += 11_000; // every refresh sweeps (at most every 10 s)
        await index.refresh();
        if (random() < 0.5) await nextTurn();
        if (random() < 0.5) await nextTurn();
        // Cutoff of the sweep just run: the refresh started at `now`.
        const cutoff = now - ttl;
        const alive = new Map([...truth].filter(([, v]) => v.at >= cutoff));
        expect(index.live).toBe(alive.size);
        for (const [id] of truth) {
          const row = index.position(id);
          if (alive.has(id)) {
            expect(row, `alive ${id} has a row`).toBeDefined();
            expect(index.ids[row as number]).toBe(id);
          } else {
            expect(row, `expired ${id} has no row`).toBeUndefined();
          }
        }
        const aged = index.agedBiases(scorer);
        if (index.bounded) bounded++;
        for (let q = 0; q < 5; q++) {
          const query = Float32Array.from(vector());
          const aliveIds = [...alive.keys()];
          const exclude = new Set(aliveIds.filter(() => random() < 0.05));
          const k = 1 + Math.floor(random() * 20);
          const served = index.rank(scorer, query, aged, k, exclude);
          // Independent: score every alive item from the truth.
          const expected = aliveIds
            .filter((id) => !exclude.has(id))
            .map((id) => ({ id, score: scorer.score(query, (alive.get(id) as { rec: ItemRecord }).rec, index.clock) }))
            .sort((a, b) => b.score - a.score)
            .slice(0, k);
          expect(served.length).toBe(expected.length);
          for (const s of served) {
            expect(alive.has(s.id), `served ${s.id} is alive`).toBe(true);
            expect(exclude.has(s.id)).toBe(false);
          }
          const kth = expected[expected.length - 1]?.score ?? -Infinity;
          for (const e of expected) {
            if (e.score > kth + 1e-3) expect(served.map((s) => s.id), `missing ${e.id}`).toContain(e.id);
          }
          expect(new Set(served.map((s) => s.id)).size).toBe(served.length);
        }
        // Similar items never name an expired item or the empty id of a free row.
        const aliveIds = [...alive.keys()];
        if (aliveIds.length > 0) {
          const of = aliveIds[Math.floor(random() * aliveIds.length)] as string;
          for (const s of similarToItems(index, [of], 10)) {
            expect(alive.has(s.id), `similar ${s.id}`).toBe(true);
          }
        }
      }
      // The churn did what it is for: rows were reused, the bound index served, layouts overlapped refreshes.
      expect(index.size).toBeLessThan(next);
      expect(bounded).toBeGreaterThan(20);
      expect(inFlight).toBeGreaterThan(0);
    }, 60_000);
  }

  it('does not serve a cached answer naming an item whose row went to another item', async () => {
    const store = new ScriptedStore();
    let now = 1_000_000;
    const index = new ItemIndex(store, 2, () => now, undefined, Infinity, 60_000);
    await store.commit({
      partition: 'p', expectedOffset: null, nextOffset: '1', analytics: undefined,
      effects: {
        users: new Map([['u', { ts: 0, count: 1, vec: Float32Array.from([1, 0]) }]]),
        items: new Map(), itemBases: new Map(), rates: { item: 0, trending: 0 }, counts: new Map(), clicked: new Map(), clock: 0,
      },
    });
    const rec = new Recommender(store, index, { ...DEFAULT_MODEL_PARAMS, dimensions: 2 }, 0);
    store.feed.push({ seq: 2, items: [['old', record(5, [1, 0]), now - 50_000], ['keep', record(0, [0.5, 0]), now]] });
    expect((await rec.recommend('u', 5)).items.map((s) => s.id)).toEqual(['old', 'keep']);
    now += 20_000;
    store.feed.push({ seq: 3, items: [] });
    expect((await rec.recommend('u', 5)).items.map((s) => s.id)).toEqual(['keep']);
    store.feed.push({ seq: 4, items: [['taker', record(-1, [0, 1]), now]] });
    now += 1; // past the staleness bound (0 ms) of the fake clock
    expect((await rec.recommend('u', 5)).items.map((s) => s.id)).toEqual(['keep', 'taker']);
    expect(await rec.similar('old', 5)).toBeUndefined();
  });
});
