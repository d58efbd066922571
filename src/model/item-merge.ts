import { decayFactor } from './decay.ts';
import type { BatchEffects } from './online-mf.ts';
import type { ItemRecord } from './records.ts';

/** Decay rates per millisecond that age an item record (src/model/decay.ts). */
export interface ItemRates {
  /** Item bias. */
  item: number;
  /** Decayed view and click counters. */
  trending: number;
}

/** Views and clicks a batch added to an item's decayed counters, as of the record's time. */
export interface AddedCounts {
  views: number;
  clicks: number;
}

/** The decayed views and clicks that `result` holds beyond its `base`, as of the result's time. */
export function addedCounts(base: ItemRecord, result: ItemRecord, rates: ItemRates): AddedCounts {
  const factor = decayFactor(rates.trending, base.ts, result.ts);
  return { views: result.views - base.views * factor, clicks: result.clicks - base.clicks * factor };
}

/** True when two records have the same time, bias and counters: the record was not written since. */
export function sameHeader(a: ItemRecord, b: ItemRecord): boolean {
  return a.ts === b.ts && a.bias === b.bias && a.views === b.views && a.clicks === b.clicks;
}

/**
 * Two batches that started from the same record both changed it (batches of two partitions in
 * flight at once, in one process or two). Counters are sums, so the batch's added views and
 * clicks are added to the stored ones. The learned bias and vector are averaged instead: each
 * batch ran its own SGD steps towards the same optimum, and for a popular item each batch's
 * steps already take it most of the way, so adding both overshoots, and with several batches
 * at once the overshoot grows every round. An average stays between the two results.
 * The Redis commit script does the same arithmetic (src/state/commit.lua).
 */
export function mergeConcurrent(stored: ItemRecord, result: ItemRecord, added: AddedCounts, rates: ItemRates): ItemRecord {
  const ts = Math.max(stored.ts, result.ts);
  const age = (rate: number, value: number, from: number) => value * decayFactor(rate, from, ts);
  const vec = new Float32Array(stored.vec.length);
  for (let f = 0; f < vec.length; f++) vec[f] = ((stored.vec[f] as number) + (result.vec[f] as number)) / 2;
  return {
    ts,
    bias: (age(rates.item, stored.bias, stored.ts) + age(rates.item, result.bias, result.ts)) / 2,
    views: age(rates.trending, stored.views, stored.ts) + age(rates.trending, added.views, result.ts),
    clicks: age(rates.trending, stored.clicks, stored.ts) + age(rates.trending, added.clicks, result.ts),
    vec,
  };
}

/**
 * What a store holds once a batch's change of item `id` is committed on top of `stored`: the
 * batch's record when the item is as the batch read it (or absent), else the concurrent merge.
 * A change without a base replaces the record. The in-process stores use it; the Redis commit
 * script does the same.
 */
export function committedItem(stored: ItemRecord | undefined, id: string, effects: BatchEffects): ItemRecord {
  const result = effects.items.get(id);
  if (result === undefined) throw new Error(`item ${id} is not in the batch`);
  const base = effects.itemBases.get(id);
  const unchanged = stored === undefined || (base !== undefined && base.stored && sameHeader(stored, base.record));
  if (base === undefined || unchanged) return { ...result, vec: result.vec.slice() };
  return mergeConcurrent(stored, result, addedCounts(base.record, result, effects.rates), effects.rates);
}

/**
 * Whether a batch's write of item `id` moves its trending score: a record without a base, or
 * an item clicked in the batch. Decay alone leaves ln(clicks) + rate * ts unchanged, so items
 * the batch only aged (sampled negatives, views) keep their score. The Redis commit script
 * gets this decision as the item's mode ('r' or 'c' move, 'm' does not).
 */
export function movesTrending(effects: BatchEffects, id: string): boolean {
  return !effects.itemBases.has(id) || (effects.counts.get(id)?.clicks ?? 0) > 0;
}

/**
 * Trending score of an item: ln(decayed clicks) + rate * ts, which orders items by their
 * decayed clicks at any common time without rescaling; undefined for an item without clicks.
 */
export function trendingScore(item: ItemRecord, trendingRate: number): number | undefined {
  return item.clicks > 0 ? Math.log(item.clicks) + trendingRate * item.ts : undefined;
}
