import { describe, expect, it } from 'vitest';
import type { BatchEffects } from '../../src/model/online-mf.ts';
import { DEFAULT_MODEL_PARAMS } from '../../src/model/params.ts';
import type { ItemRecord } from '../../src/model/records.ts';
import { ItemIndex } from '../../src/serve/item-index.ts';
import { Recommender } from '../../src/serve/recommender.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';
import { effects } from '../contract/state-store.ts';

const item = (x: number, y: number): ItemRecord => ({ ts: 1, bias: 0, views: 0, clicks: 0, vec: Float32Array.from([x, y]) });

describe('recommendation answer cache', () => {
  it('answers anew when the clicked items change at the cap, the user record unchanged', async () => {
    const store = new MemoryStateStore({ clickedMax: 2 });
    const commit = (offset: number, partial: Partial<BatchEffects>) =>
      store.commit({
        partition: 'g/t/0',
        expectedOffset: offset === 0 ? null : String(offset),
        nextOffset: String(offset + 1),
        effects: effects(partial),
        analytics: undefined,
      });
    await commit(0, {
      users: new Map([['u', { ts: 1, count: 1, vec: Float32Array.from([1, 0]) }]]),
      items: new Map([['a', item(4, 0)], ['b', item(3, 0)], ['c', item(2, 0)], ['d', item(1, 0)]]),
      clicked: new Map([['u', new Map([['a', 1], ['b', 2]])]]),
    });
    const params = { ...DEFAULT_MODEL_PARAMS, dimensions: 2 };
    const index = new ItemIndex(store, 2, Date.now, undefined, Infinity, 0);
    const recommender = new Recommender(store, index, params, 0);
    const ids = async () => (await recommender.recommend('u', 4)).items.map((s) => s.id);
    expect(await ids()).toEqual(['c', 'd']);
    // A later click of c: still two clicked items (a is forgotten), and the same user record.
    await commit(1, { users: new Map([['u', { ts: 1, count: 1, vec: Float32Array.from([1, 0]) }]]), clicked: new Map([['u', new Map([['c', 3]])]]) });
    expect(await store.getClicked('u')).toEqual(['c', 'b']);
    expect(await ids()).toEqual(['a', 'd']);
  });

  it('serves a smaller k from a kept answer: its best items, scores and all, not one more', async () => {
    const store = new MemoryStateStore();
    await store.commit({
      partition: 'g/t/0',
      expectedOffset: null,
      nextOffset: '1',
      effects: effects({
        users: new Map([['u', { ts: 1, count: 1, vec: Float32Array.from([1, 0]) }]]),
        items: new Map([['a', item(4, 0)], ['b', item(3, 0)], ['c', item(2, 0)], ['d', item(1, 0)]]),
      }),
      analytics: undefined,
    });
    const params = { ...DEFAULT_MODEL_PARAMS, dimensions: 2 };
    const index = new ItemIndex(store, 2, Date.now, undefined, Infinity, 0);
    const recommender = new Recommender(store, index, params, 0);
    const four = (await recommender.recommend('u', 4)).items;
    expect(four.map((s) => s.id)).toEqual(['a', 'b', 'c', 'd']);
    // Ranking again would find the same items: the answer must come from the kept one.
    const rank = index.rank.bind(index);
    let ranked = 0;
    index.rank = (...args) => {
      ranked++;
      return rank(...args);
    };
    const two = (await recommender.recommend('u', 2)).items;
    expect(ranked).toBe(0);
    expect(two).toEqual(four.slice(0, 2));
    expect((await recommender.recommend('u', 4)).items).toEqual(four);
    expect(ranked).toBe(0);
  });
});
