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
    expect(index.position('old')).toBeUndefined();
    expect(similarToItems(index, ['new'], 5).map((s) => s.id)).toEqual(['far']);
    expect(similarToItems(index, ['old'], 5)).toEqual([]);

    // A new item takes the expired item's row.
    store.feed.push({ seq: 3, items: [['newer', record(1, [0.5, 0.5]), now]] });
    await index.refresh();
    expect(index.size).toBe(3);
    expect(rank()).toEqual(['newer', 'new', 'far']);

    store.feed.push({ seq: 4, items: [['old', record(5, [1, 0]), now]] });
    now += 20_000;
    await index.refresh();
    expect(rank()).toEqual(['old', 'newer', 'new', 'far']);
    expect(index.live).toBe(4);
    expect(index.size).toBe(4);
  });

  it('keeps every item when the TTL is 0', async () => {
    const store = new ScriptedStore();
    const index = new ItemIndex(store, 2, () => 10 ** 12, undefined, Infinity, 0);
    store.feed.push({ seq: 1, items: [['a', record(1, [1, 0]), 0]] });
    await index.refresh();
    expect(index.live).toBe(1);
  });
});

describe('item index ranking while the model trains', () => {
  it('refits once rows have changed, not before 30 s after the last layout, and then scans new rows no more', async () => {
    const { store, d, vector } = catalogue(4, 2_000, () => 0);
    let now = 1_000_000;
    let unplaced = Number.NaN;
    let changed = Number.NaN;
    const pauses: number[] = [];
    const metrics = {
      indexLookups: { inc: () => undefined },
      indexItems: { set: () => undefined },
      indexUnplaced: { set: (value: number) => (unplaced = value) },
      indexChanged: { set: (value: number) => (changed = value) },
      indexLayoutPause: { observe: (seconds: number) => pauses.push(seconds) },
    } as unknown as ConstructorParameters<typeof ItemIndex>[3];
    const index = new ItemIndex(store, d, () => now, metrics, 1_000);
    await index.refresh();
    const scorer = new Scorer(DEFAULT_MODEL_PARAMS);
    const rank = () => index.rank(scorer, Float32Array.from(vector()), index.agedBiases(scorer), 10, new Set());
    await until(() => index.bounded, 'no layout');
    const version = index.version;
    expect(changed).toBe(0);
    expect(pauses).toHaveLength(1);
    expect(pauses[0]).toBeGreaterThan(0);

    // Three changed rows and two new ones; only the new ones are scored apart from the cells.
    store.feed.push({ seq: 2, items: ['i0', 'i1', 'i2', 'new0', 'new1'].map((id) => [id, record(0, vector()), 1]) });
    await index.refresh();
    expect([unplaced, changed]).toEqual([2, 5]);
    now += 29_000;
    rank();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([unplaced, index.version]).toEqual([2, version + 5]);

    now += 2_000;
    rank();
    await until(() => unplaced === 0, 'the new rows were not laid out');
    expect(index.version).toBe(version + 6);
    expect([changed, pauses.length]).toEqual([0, 2]);

    // Changed rows alone are enough for a new layout, 30 s on.
    store.feed.push({ seq: 3, items: [['i3', record(0, vector()), 2]] });
    await index.refresh();
    expect(changed).toBe(1);
    now += 31_000;
    rank();
    await until(() => index.version === version + 8, 'the changed row was not laid out');
    expect(changed).toBe(0);
    // The new layout's packed copy (in the memory of the one it replaced) ranks as the table does.
    const aged = index.agedBiases(scorer);
    for (let q = 0; q < 20; q++) {
      const query = Float32Array.from(vector());
      expect(index.rank(scorer, query, aged, 10, new Set())).toEqual(scorer.rankAged(query, index, aged, 10, new Set()));
    }
  }, 30_000);

  it('counts the changes since the serving layout: none while no layout serves, and those read during a layout carry over', async () => {
    let changed = Number.NaN;
    let layouts = 0;
    const metrics = {
      indexLookups: { inc: () => undefined },
      indexItems: { set: () => undefined },
      indexUnplaced: { set: () => undefined },
      indexChanged: { set: (value: number) => (changed = value) },
      indexLayoutPause: { observe: () => layouts++ },
    } as unknown as ConstructorParameters<typeof ItemIndex>[3];
    // Below the bound index's size no layout ever serves, so no change is pending on one.
    const small = catalogue(8, 500, () => 0);
    const unbounded = new ItemIndex(small.store, small.d, Date.now, metrics, 1_000);
    await unbounded.refresh();
    small.store.feed.push({ seq: 2, items: [['i1', record(0, small.vector()), 2]] });
    await unbounded.refresh();
    expect([changed, layouts, unbounded.bounded]).toEqual([0, 0, false]);

    const { store, d, vector } = catalogue(7, 5_000, () => 0);
    const index = new ItemIndex(store, d, Date.now, metrics, 1_000);
    await index.refresh(); // starts the first layout, which takes turns of the event loop
    expect(changed).toBe(0);
    store.feed.push({ seq: 2, items: ['i1', 'i2', 'i3'].map((id) => [id, record(0, vector()), 1]) });
    await index.refresh(); // read while the layout is in flight: its vectors were taken before
    expect(layouts).toBe(0);
    await until(() => layouts === 1, 'no layout');
    await index.refresh();
    expect(changed).toBe(3);
  });

  it('scores once a row that arrived during a layout and changed after it', async () => {
    const { store, d } = catalogue(12, 1_000, (random) => random() - 0.5);
    const index = new ItemIndex(store, d, Date.now, undefined, 1_000);
    await index.refresh(); // starts the layout of 1,000 rows, which takes turns of the event loop
    store.feed.push({ seq: 2, items: [['n0', record(0, [0, 0, 0, 0, 0, 0, 0, 0]), 1], ['n1', record(0, [0, 0, 0, 0, 0, 0, 0, 0]), 1]] });
    await index.refresh(); // n0 and n1 arrive while it runs
    expect(index.bounded).toBe(false);
    await until(() => index.bounded, 'no layout');
    store.feed.push({ seq: 3, items: [['n0', record(50, [0, 0, 0, 0, 0, 0, 0, 0]), 2]] });
    await index.refresh();
    const scorer = new Scorer(DEFAULT_MODEL_PARAMS);
    const aged = index.agedBiases(scorer);
    const query = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0, 0, 0, 0]);
    const served = index.rank(scorer, query, aged, 3, new Set());
    expect(served.map((s) => s.id)).toEqual(scorer.rankAged(query, index, aged, 3, new Set()).map((s) => s.id));
    expect(served.filter((s) => s.id === 'n0')).toHaveLength(1);
  }, 30_000);

  it('ranks exactly as scoring every row does, after changed rows, new rows and expiry too', async () => {
    // Biases spread out and vectors of many lengths, as trained factors have.
    const { store, d, random } = catalogue(9, 3_000, (random) => (random() - 0.3) * 2);
    // The catalogue was written at 0; only items not written again after that expire, at 70 s.
    let now = 0;
    const index = new ItemIndex(store, d, () => now, undefined, 1_000, 60_000);
    const vector = () => {
      const scale = random() * 3;
      return Array.from({ length: d }, () => (random() - 0.5) * scale);
    };
    await index.refresh();
    const scorer = new Scorer(DEFAULT_MODEL_PARAMS);
    await until(() => index.bounded, 'no layout');
    // Changed rows (packed copies rewritten, some far longer than their cell's), new rows (scored
    // for every request), high biases, and every item but those expiring (not written again).
    store.feed.push({
      seq: 2,
      items: [
        ...Array.from({ length: 60 }, (_, n): ItemChanges['items'][number] => [`i${n * 7}`, record(random(), vector().map((x) => x * (n % 3 === 0 ? 4 : 1))), 40_000]),
        ...Array.from({ length: 40 }, (_, n): ItemChanges['items'][number] => [`new${n}`, record(n < 5 ? 10 : random(), vector()), 40_000]),
      ],
    });
    now = 50_000;
    await index.refresh();
    store.feed.push({ seq: 3, items: Array.from({ length: 1_000 }, (_, n): ItemChanges['items'][number] => [`i${n * 3 + 1}`, record(random() * 3, vector()), now]) });
    now = 70_000;
    await index.refresh();
    const live = index.live;
    expect(live).toBeGreaterThan(1_000);
    expect(live).toBeLessThan(1_200);
    const aged = index.agedBiases(scorer);
    const exclude = new Set(['i3', 'new1', 'i14', 'i301']);
    let scanned = 0;
    for (let q = 0; q < 100; q++) {
      const user = Float32Array.from(vector());
      const expected = scorer.rankAged(user, index, aged, 10, exclude);
      const served = index.rank(scorer, user, aged, 10, exclude);
      expect(served).toEqual(expected);
      scanned += index.lastScanned;
    }
    // The bounds skip most rows.
    expect(scanned / 100).toBeLessThan(index.size / 4);

    // New items take the expired items' rows, in the cells those were laid out in (the lowest
    // band): rankings stay exact, and the table does not grow.
    const rows = index.size;
    store.feed.push({ seq: 4, items: Array.from({ length: 500 }, (_, n): ItemChanges['items'][number] => [`next${n}`, record(n < 20 ? 10 : random() * 3, vector()), now]) });
    now = 75_000;
    await index.refresh();
    expect(index.size).toBe(rows);
    expect(index.live).toBe(live + 500);
    const agedAfter = index.agedBiases(scorer);
    for (let q = 0; q < 100; q++) {
      const user = Float32Array.from(vector());
      expect(index.rank(scorer, user, agedAfter, 10, exclude)).toEqual(scorer.rankAged(user, index, agedAfter, 10, exclude));
    }
  }, 30_000);
});
