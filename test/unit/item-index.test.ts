import { describe, expect, it } from 'vitest';
import type { ItemRecord } from '../../src/model/records.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';
import type { ItemChanges } from '../../src/state/store.ts';
import { ItemIndex } from '../../src/serve/item-index.ts';
import { similarToItems } from '../../src/scenarios/similar.ts';
import { Scorer } from '../../src/model/scoring.ts';
import { DEFAULT_MODEL_PARAMS } from '../../src/model/params.ts';
import { seededRandom } from '../../src/model/random.ts';

const record = (bias: number, vec: number[]): ItemRecord => ({ ts: 0, bias, views: 0, clicks: 0, vec: Float32Array.from(vec) });

/** A store whose change feed is scripted: each refresh returns the next batch of changes. */
class ScriptedStore extends MemoryStateStore {
  feed: ItemChanges[] = [];
  override async itemsChangedSince(seq: number): Promise<ItemChanges> {
    return this.feed.shift() ?? { seq, items: [] };
  }
}

/**
 * A store whose first change feed holds `count` items i0, i1, ... of random 8-float vectors and
 * biases from `bias`; `vector` draws more from the same seeded source.
 */
function catalogue(seed: number, count: number, bias: (random: () => number) => number) {
  const store = new ScriptedStore();
  const d = 8;
  const random = seededRandom(seed);
  const vector = () => Array.from({ length: d }, () => random() - 0.5);
  store.feed.push({ seq: 1, items: Array.from({ length: count }, (_, i) => [`i${i}`, record(bias(random), vector()), 0]) });
  return { store, d, random, vector };
}

/** Polls `done` every 20 ms; fails with `what` after 20 s. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('item index expiry', () => {
  it('retires items not written for the item TTL, and serves one again once it is written', async () => {
    const store = new ScriptedStore();
    let now = 1_000_000;
    const index = new ItemIndex(store, 2, () => now, undefined, Infinity, 60_000);
    store.feed.push({
      seq: 2,
      items: [
        ['old', record(5, [1, 0]), now - 50_000],
        ['new', record(0, [0.9, 0.1]), now - 1_000],
        ['far', record(-1, [0, 1]), now - 1_000],
      ],
    });
    await index.refresh();
    const scorer = new Scorer(DEFAULT_MODEL_PARAMS);
    const rank = () => scorer.rankAged(Float32Array.from([1, 0]), index, index.agedBiases(scorer), 5, new Set()).map((s) => s.id);
    expect(rank()).toEqual(['old', 'new', 'far']);
    expect(index.live).toBe(3);

    now += 20_000; // 'old' was written 70 s ago: past the 60 s TTL.
    await index.refresh();
    expect(rank()).toEqual(['new', 'far']);
    expect(index.live).toBe(2);
    expect(similarToItems(index, ['new'], 5).map((s) => s.id)).toEqual(['far']);

    store.feed.push({ seq: 3, items: [['old', record(5, [1, 0]), now]] });
    now += 20_000;
    await index.refresh();
    expect(rank()).toEqual(['old', 'new', 'far']);
    expect(index.live).toBe(3);
  });

  it('keeps every item when the TTL is 0', async () => {
    const store = new ScriptedStore();
    const index = new ItemIndex(store, 2, () => 10 ** 12, undefined, Infinity, 0);
    store.feed.push({ seq: 1, items: [['a', record(1, [1, 0]), 0]] });
    await index.refresh();
    expect(index.live).toBe(1);
  });
});

describe('item index candidates while the model trains', () => {
  it('keeps a changed row in the cluster its fit gave it, and places a new row in its nearest cluster', async () => {
    const store = new ScriptedStore();
    const d = 8;
    const random = seededRandom(3);
    const items: ItemChanges['items'] = Array.from({ length: 3_000 }, (_, i) => [
      `i${i}`,
      record(0, Array.from({ length: d }, () => random() - 0.5)),
      0,
    ]);
    store.feed.push({ seq: 1, items });
    const index = new ItemIndex(store, d, Date.now, undefined, 1_000);
    await index.refresh();
    const query = Float32Array.from({ length: d }, (_, f) => (f === 0 ? 1 : 0));
    await until(() => index.candidates(query) !== undefined, 'no clusters fitted');
    const before = index.candidates(query) as number[];
    expect(before.length).toBeLessThan(3_000);

    // Three rows move to where the query points: their clusters stay those of their old vectors
    // until the next fit. Two new rows are offered to every query.
    const offered = new Set(before);
    const moved = items.map(([id]) => id).filter((id) => !offered.has(index.row(id) as number)).slice(0, 3);
    expect(moved).toHaveLength(3);
    store.feed.push({
      seq: 2,
      items: [...moved, 'new0', 'new1'].map((id) => [id, record(0, [5, 0, 0, 0, 0, 0, 0, 0]), 1]),
    });
    await index.refresh();
    const after = index.candidates(query) as number[];
    for (const id of moved) expect(after).not.toContain(index.row(id));
    for (const id of ['new0', 'new1']) expect(after).toContain(index.row(id));
    expect(new Set(after).size).toBe(after.length);
    expect(after.length).toBe(before.length + 2);
  }, 30_000);

  it('refits once rows have changed, not before 30 s after the last fit, and then scans new rows no more', async () => {
    const { store, d, vector } = catalogue(4, 2_000, () => 0);
    let now = 1_000_000;
    let unclustered = Number.NaN;
    const metrics = {
      indexLookups: { inc: () => undefined },
      indexItems: { set: () => undefined },
      indexUnclustered: { set: (value: number) => (unclustered = value) },
    } as unknown as ConstructorParameters<typeof ItemIndex>[3];
    const index = new ItemIndex(store, d, () => now, metrics, 1_000);
    await index.refresh();
    const query = Float32Array.from(vector());
    await until(() => index.candidates(query) !== undefined, 'no clusters fitted');
    const version = index.version;

    // Three changed rows and two new ones; only the new ones are scanned apart from the clusters.
    store.feed.push({ seq: 2, items: ['i0', 'i1', 'i2', 'new0', 'new1'].map((id) => [id, record(0, vector()), 1]) });
    await index.refresh();
    expect(unclustered).toBe(2);
    now += 29_000;
    index.candidates(query);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([unclustered, index.version]).toEqual([2, version + 5]);

    now += 2_000;
    index.candidates(query);
    await until(() => unclustered === 0, 'the new rows were not refitted');
    expect(index.version).toBe(version + 6);

    // Changed rows alone are enough for a refit, 30 s on.
    store.feed.push({ seq: 3, items: [['i3', record(0, vector()), 2]] });
    await index.refresh();
    now += 31_000;
    index.candidates(query);
    await until(() => index.version === version + 8, 'the changed row was not refitted');
    // The new fit's packed copy (in the memory of the one it replaced) ranks as the table does.
    const scorer = new Scorer(DEFAULT_MODEL_PARAMS);
    const aged = index.agedBiases(scorer);
    const exact = scorer.rankAged(query, index, aged, 10, new Set(), index.candidates(query));
    expect(index.rank(scorer, query, aged, 10, new Set())).toEqual(exact);
  }, 30_000);

  it('ranks by scanning packed cluster rows as it would by scoring every candidate row, after changes too', async () => {
    const { store, d, random, vector } = catalogue(9, 3_000, (random) => random());
    const index = new ItemIndex(store, d, Date.now, undefined, 1_000, 0, { clusters: 32, probes: 4, head: 20 });
    await index.refresh();
    const query = () => Float32Array.from(vector());
    await until(() => index.candidates(query()) !== undefined, 'no clusters fitted');
    // Changed rows (their packed copies rewritten), new rows (placed since the fit), new high biases (head).
    store.feed.push({
      seq: 2,
      items: [
        ...Array.from({ length: 60 }, (_, n): ItemChanges['items'][number] => [`i${n * 7}`, record(random(), vector()), 1]),
        ...Array.from({ length: 40 }, (_, n): ItemChanges['items'][number] => [`new${n}`, record(n < 5 ? 10 : random(), vector()), 1]),
      ],
    });
    await index.refresh();
    const scorer = new Scorer(DEFAULT_MODEL_PARAMS);
    const aged = index.agedBiases(scorer);
    const exclude = new Set(['i3', 'new1', 'i14']);
    for (let q = 0; q < 50; q++) {
      const user = query();
      const candidates = index.candidates(user) as number[];
      expect(new Set(candidates).size).toBe(candidates.length);
      const expected = scorer.rankAged(user, index, aged, 10, exclude, candidates);
      const served = index.rank(scorer, user, aged, 10, exclude);
      expect(served.map((s) => s.id)).toEqual(expected.map((s) => s.id));
      served.forEach((s, i) => expect(s.score).toBe(expected[i]?.score));
    }
  }, 30_000);
});
