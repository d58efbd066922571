import type { AnalyticsBatch } from '../state/store.ts';

/** Where per-item, per-minute aggregates go. Writes must be idempotent per batch id. */
export interface AnalyticsSink {
  readonly kind: 'clickhouse' | 'none';
  write(batches: readonly AnalyticsBatch[]): Promise<void>;
  close(): Promise<void>;
}
