import type { InteractionEvent } from '../events/schema.ts';

export type Role = 'model' | 'baseline';

/**
 * One row of the evaluation: something that can be asked before it learns.
 * Every ranker sees the same events in the same order.
 */
export interface Ranker {
  readonly name: string;
  readonly role: Role;
  /** Parameters used, as shown in the table. */
  readonly params: string;
  /** The k best items seen so far for a user at event time `ts`, best first, skipping `exclude`. */
  recommend(userId: string, k: number, exclude: ReadonlySet<string>, ts: number): string[];
  /** A score per candidate (higher is better) for a user at event time `ts`. */
  scoreCandidates(userId: string, itemIds: readonly string[], ts: number): number[];
  /** Learns a batch of events, after they were tested. */
  learn(events: readonly InteractionEvent[]): void;
  /** Earlier clicks of a user that come from outside the stream (MIND's history column). */
  warm?(userId: string, itemIds: readonly string[], ts: number): void;
}

export type RankingMetric = 'recall@10' | 'ndcg@10';
export type ImpressionMetric = 'auc' | 'mrr' | 'ndcg@10';
export type MetricName = RankingMetric | ImpressionMetric;

/** One evaluated unit (an event or an impression) at its event time. */
export interface Sample {
  ts: number;
  value: number;
}

export interface RowResult {
  name: string;
  role: Role;
  params: string;
  metrics: Partial<Record<MetricName, number>>;
  /** Units the metrics average over: tested events or impressions with both labels. */
  evaluated: number;
  /** Interaction events replayed (tested and learned). */
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** The headline metric of every evaluated unit, for the chart. */
  series: Sample[];
}
