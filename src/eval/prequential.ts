/**
 * Prequential (test-then-train) replay: every ranker is asked before it learns, in event-time
 * order, so no answer is ever scored by a model that has seen it.
 */
import { mindEvents, type MindImpression } from '../sources/datasets.ts';
import type { InteractionEvent } from '../events/schema.ts';
import { hash32 } from '../model/random.ts';
import { Mean, auc, mrr, ndcg, rankOrder, singleNdcg } from './metrics.ts';
import type { Ranker, RowResult, Sample } from './types.ts';

export const TOP_K = 10;

export interface ClickReplayOptions {
  /** Test every n-th eligible event (all are learned); 1 tests all. */
  every?: number;
}

interface Tally {
  started: number;
  events: number;
  evaluated: number;
  metrics: RowResult['metrics'];
  series: Sample[];
}

function row(ranker: Ranker, tally: Tally): RowResult {
  const { started, events, evaluated, metrics, series } = tally;
  const seconds = (performance.now() - started) / 1000;
  return {
    name: ranker.name,
    role: ranker.role,
    params: ranker.params,
    metrics,
    evaluated,
    events,
    seconds,
    eventsPerSecond: seconds > 0 ? events / seconds : 0,
    series,
  };
}

/**
 * Click streams (MovieLens ratings, brunch reads): for each click of a user with an earlier
 * click, the user's top 10 over all items seen so far, without the items the user already
 * clicked, is a hit when it holds the clicked item.
 */
export function replayClicks(
  ranker: Ranker,
  events: readonly InteractionEvent[],
  opts: ClickReplayOptions = {},
): RowResult {
  const every = opts.every ?? 1;
  const clicked = new Map<string, Set<string>>();
  const recall = new Mean();
  const gain = new Mean();
  const series: Sample[] = [];
  const started = performance.now();
  let eligible = 0;
  const batch: InteractionEvent[] = [];

  for (const event of events) {
    let seen = clicked.get(event.userId);
    if (seen !== undefined && eligible++ % every === 0) {
      const top = ranker.recommend(event.userId, TOP_K, seen, event.ts);
      const rank = top.indexOf(event.itemId);
      recall.add(rank >= 0 ? 1 : 0);
      gain.add(singleNdcg(rank, TOP_K));
      series.push({ ts: event.ts, value: rank >= 0 ? 1 : 0 });
    }
    batch[0] = event;
    ranker.learn(batch);
    if (seen === undefined) clicked.set(event.userId, (seen = new Set()));
    seen.add(event.itemId);
  }
  const metrics = { 'recall@10': recall.value, 'ndcg@10': gain.value };
  return row(ranker, { started, events: events.length, evaluated: recall.count, metrics, series });
}

export interface ImpressionReplayOptions {
  /** Learn a user's history column as earlier clicks the first time the user appears. */
  history?: boolean;
  seed?: number;
}

/**
 * Impression logs (MIND): each impression's candidates are scored first and judged against
 * its click labels (AUC, MRR, nDCG@10), then its views and clicks are learned.
 */
export function replayImpressions(
  ranker: Ranker,
  impressions: readonly MindImpression[],
  opts: ImpressionReplayOptions = {},
): RowResult {
  const seed = opts.seed ?? 0;
  const known = new Set<string>();
  const area = new Mean();
  const reciprocal = new Mean();
  const gain = new Mean();
  const series: Sample[] = [];
  const started = performance.now();
  let events = 0;

  for (const imp of impressions) {
    if (!known.has(imp.userId)) {
      known.add(imp.userId);
      const warm = opts.history !== false && imp.history.length > 0;
      if (warm) ranker.warm?.(imp.userId, imp.history, imp.ts);
    }
    const ids = imp.items.map((c) => c.itemId);
    const labels = imp.items.map((c) => c.clicked);
    const scores = ranker.scoreCandidates(imp.userId, ids, imp.ts);
    const value = auc(scores, labels);
    if (value !== undefined) {
      const tieBreak = ids.map((id) => hash32(`${imp.impressionId}:${id}`, seed));
      const order = rankOrder(scores, tieBreak);
      area.add(value);
      reciprocal.add(mrr(order, labels));
      gain.add(ndcg(order, labels, TOP_K));
      series.push({ ts: imp.ts, value });
    }
    const batch = mindEvents([imp]);
    events += batch.length;
    ranker.learn(batch);
  }
  const metrics = { auc: area.value, mrr: reciprocal.value, 'ndcg@10': gain.value };
  return row(ranker, { started, events, evaluated: area.count, metrics, series });
}
