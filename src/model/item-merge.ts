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

/**
 * What a batch added to an item, as of `ts`: bias and counters that the batch
 * added on top of its base aged to `ts`, and the change of the factor vector.
 * Vector components are kept in double precision, so merging a delta onto the
 * unchanged base gives back the batch's float32 vector exactly.
 */
export interface ItemDelta {
  ts: number;
  bias: number;
  views: number;
  clicks: number;
  vec: Float64Array;
}

/** The change from `base` (the record a batch read) to `result` (the record it computed). */
export function itemDelta(base: ItemRecord, result: ItemRecord, rates: ItemRates): ItemDelta {
  const item = decayFactor(rates.item, base.ts, result.ts);
  const trending = decayFactor(rates.trending, base.ts, result.ts);
  const vec = new Float64Array(result.vec.length);
  for (let f = 0; f < vec.length; f++) vec[f] = (result.vec[f] as number) - (base.vec[f] as number);
  return {
    ts: result.ts,
    bias: result.bias - base.bias * item,
    views: result.views - base.views * trending,
    clicks: result.clicks - base.clicks * trending,
    vec,
  };
}

/**
 * An item as stored, with a delta merged in: both are aged to the later of their
 * times and added. Processes that update the same item concurrently each merge
 * their own delta, so no update is lost. The Redis commit script does the same
 * arithmetic (src/state/commit.lua); the state-store contract checks they agree.
 */
export function mergeItem(stored: ItemRecord, delta: ItemDelta, rates: ItemRates): ItemRecord {
  const ts = Math.max(stored.ts, delta.ts);
  const age = (rate: number, value: number, from: number) => value * decayFactor(rate, from, ts);
  const vec = new Float32Array(stored.vec.length);
  for (let f = 0; f < vec.length; f++) vec[f] = (stored.vec[f] as number) + (delta.vec[f] ?? 0);
  return {
    ts,
    bias: age(rates.item, stored.bias, stored.ts) + age(rates.item, delta.bias, delta.ts),
    views: age(rates.trending, stored.views, stored.ts) + age(rates.trending, delta.views, delta.ts),
    clicks: age(rates.trending, stored.clicks, stored.ts) + age(rates.trending, delta.clicks, delta.ts),
    vec,
  };
}

/**
 * Trending score of an item: ln(decayed clicks) + rate * ts, which orders items by their
 * decayed clicks at any common time without rescaling; undefined for an item without clicks.
 */
export function trendingScore(item: ItemRecord, trendingRate: number): number | undefined {
  return item.clicks > 0 ? Math.log(item.clicks) + trendingRate * item.ts : undefined;
}

/**
 * What a store holds once a batch's change of item `id` is committed on top of `stored`: the
 * change merged in, or the batch's record where nothing is stored or the batch gave no base.
 * The in-process stores use it; the Redis commit script does the same.
 */
export function committedItem(stored: ItemRecord | undefined, id: string, effects: BatchEffects): ItemRecord {
  const result = effects.items.get(id);
  if (result === undefined) throw new Error(`item ${id} is not in the batch`);
  const base = effects.itemBases.get(id);
  if (base === undefined || stored === undefined) return { ...result, vec: Float32Array.from(result.vec) };
  return mergeItem(stored, itemDelta(base.record, result, effects.rates), effects.rates);
}
