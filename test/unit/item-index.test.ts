import { describe, expect, it } from 'vitest';
import type { ItemRecord } from '../../src/model/records.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';
import type { ItemChanges } from '../../src/state/store.ts';
import { ItemIndex } from '../../src/serve/item-index.ts';
import { similarToItems } from '../../src/scenarios/similar.ts';
import { Scorer } from '../../src/model/scoring.ts';
import { DEFAULT_MODEL_PARAMS } from '../../src/model/params.ts';

const record = (bias: number, vec: number[]): ItemRecord => ({ ts: 0, bias, views: 0, clicks: 0, vec: Float32Array.from(vec) });

/** A store whose change feed is scripted: each refresh returns the next batch of changes. */
class ScriptedStore extends MemoryStateStore {
  feed: ItemChanges[] = [];
  override async itemsChangedSince(seq: number): Promise<ItemChanges> {
    return this.feed.shift() ?? { seq, items: [] };
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
