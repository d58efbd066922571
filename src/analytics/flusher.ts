import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { backoffMs } from '../retry.ts';
import type { StateStore } from '../state/store.ts';
import type { AnalyticsSink } from './sink.ts';

export interface FlusherOptions {
  store: StateStore;
  sink: AnalyticsSink;
  metrics: Metrics;
  logger: Logger;
  intervalMs: number;
  /** Most batches in one write (default WRITE_BATCHES). */
  writeBatches?: number;
  /** Rows (item and user rows together) at which a write takes no further batch (default WRITE_ROWS). */
  writeRows?: number;
  /** Pending batches at which `waitForRoom` holds the pipeline back. */
  maxPending: number;
}

/**
 * Longest wait between retries of a failed write. Short, because the pipeline may be paused on
 * the outbox bound meanwhile: each second of backoff after ClickHouse is back is a second of stall.
 */
const RETRY_MAX_MS = 5_000;

/**
 * Each write becomes a part of each table, which ClickHouse then merges into the partition's
 * larger parts: a few large writes cost it far less than many small ones. A write's batches are
 * held decoded while it is sent (about 95 bytes a row), so its size bounds the flush's memory too,
 * every few seconds of a backlog.
 */
const WRITE_ROWS = 50_000;
const WRITE_BATCHES = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Moves aggregates from the state store's outbox to the analytics store. The
 * outbox entry is written in the same transaction as the state, and removed
 * only after the analytics store took it; a write repeated after a crash
 * carries the same batch id and counts once.
 */
export class AnalyticsFlusher {
  private readonly options: FlusherOptions;
  private readonly logger: Logger;
  private pending = 0;
  /** Batches let through by waitForRoom and not yet committed. */
  private admitted = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(options: FlusherOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: 'analytics' });
  }

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Writes as many batches as are pending when called; throws if the analytics store refuses.
   * Batches committed meanwhile wait for the next flush: chasing them made a small write, and so
   * a part to merge, after each write.
   */
  async flush(): Promise<number> {
    const { store, sink, metrics } = this.options;
    const due = await store.pendingAnalyticsCount();
    const most = this.options.writeBatches ?? WRITE_BATCHES;
    let written = 0;
    while (written < due) {
      const batches = await store.pendingAnalytics(Math.min(due - written, most), this.options.writeRows ?? WRITE_ROWS);
      if (batches.length === 0) break;
      const timer = metrics.analyticsFlushSeconds.startTimer();
      await sink.write(batches);
      timer();
      await store.ackAnalytics(batches.map((b) => b.batchId));
      written += batches.length;
    }
    this.pending = await store.pendingAnalyticsCount();
    metrics.analyticsPending.set(this.pending);
    return written;
  }

  /**
   * Resolves once the outbox has room for one more batch, with the function that gives the room
   * back (called once that batch is committed, or not). Otherwise waits for the flusher to drain
   * it. The count is read from the store on every call: while the analytics store is down no
   * flush succeeds, so a count kept by the flusher would stay at its last value and never hold
   * back. Batches let through but not yet committed count too: several partitions' batches
   * checking at once would otherwise all pass one short of the bound and overrun it.
   */
  async waitForRoom(): Promise<() => void> {
    this.pending = await this.options.store.pendingAnalyticsCount();
    while (!this.stopped && this.pending + this.admitted >= this.options.maxPending) {
      await sleep(Math.min(this.options.intervalMs, 500));
      this.pending = await this.options.store.pendingAnalyticsCount();
    }
    this.admitted++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.admitted--;
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    try {
      await this.flush();
    } catch (err) {
      this.logger.warn({ err }, 'final analytics flush failed; pending aggregates stay in the outbox');
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        await this.flush();
        failures = 0;
        await sleep(this.options.intervalMs);
      } catch (err) {
        failures++;
        this.options.metrics.analyticsFlushErrors.inc();
        this.logger.warn({ err, failures }, 'analytics write failed; retrying');
        await sleep(backoffMs(failures + 1, this.options.intervalMs, RETRY_MAX_MS));
      }
    }
  }
}
