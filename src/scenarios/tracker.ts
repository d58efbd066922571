import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { ExposureStore, VariantCounts, VariantDelta } from './exposure.ts';
import type { VariantAnalytics, VariantRow } from './variant-analytics.ts';

/** A click that named its variant, as `<scenario>/<variant>`. */
export interface VariantClick {
  scenario: string;
  variant: string;
  userId: string;
  itemId: string;
  /** Event time, ms. */
  ts: number;
}

export interface TrackerOptions {
  exposure: ExposureStore;
  /** When set, counts go to ClickHouse and reports read it; otherwise the exposure store counts. */
  analytics: VariantAnalytics | undefined;
  logger: Logger;
  flushMs: number;
  /** Click rows held while the store is down; beyond it the oldest are dropped (and logged). */
  maxPendingClicks?: number;
}

export type CountsSource = 'clickhouse' | 'redis' | 'memory';

const minuteOf = (ms: number) => Math.floor(ms / 60_000) * 60;

/**
 * Impressions (items served) and clicks per scenario variant, buffered in
 * process and written every `flushMs`: to ClickHouse, one row per click keyed
 * by (user, item, time) so a redelivered click counts once, and impressions
 * summed per flush under a key of this process; or, without ClickHouse, added
 * to the exposure store's counters (a redelivered click counts again there).
 */
export class VariantTracker {
  readonly source: CountsSource;
  private readonly options: TrackerOptions;
  private readonly instance = randomUUID();
  private flushes = 0;
  private pending = new Map<string, VariantDelta>();
  private clickRows: VariantRow[] = [];
  /** A ClickHouse batch that failed, retried as it was (same keys) before anything newer. */
  private failed: VariantRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(options: TrackerOptions) {
    this.options = options;
    this.source = options.analytics !== undefined ? 'clickhouse' : options.exposure.kind;
  }

  served(scenario: string, variant: string, count: number): void {
    if (count <= 0) return;
    const delta = this.delta(scenario, variant);
    delta.impressions += count;
  }

  clicked(clicks: readonly VariantClick[]): void {
    for (const c of clicks) {
      if (this.options.analytics === undefined) {
        this.delta(c.scenario, c.variant).clicks += 1;
        continue;
      }
      const key = createHash('sha1')
        .update(`${c.userId}\u0000${c.itemId}\u0000${c.ts}`)
        .digest('hex');
      this.clickRows.push({
        minute: minuteOf(c.ts),
        scenario: c.scenario,
        variant: c.variant,
        impressions: 0,
        clicks: 1,
        key,
      });
    }
    this.clickRows = this.bounded(this.clickRows);
  }

  start(): void {
    this.timer ??= setInterval(
      () => void this.flush().catch(() => undefined),
      this.options.flushMs,
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush().catch(() => undefined);
  }

  /** Writes what is pending; concurrent calls share one write. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Counts per variant of a scenario, after writing what this process holds. */
  async counts(scenario: string): Promise<Map<string, VariantCounts>> {
    await this.flush();
    const { analytics, exposure } = this.options;
    return analytics !== undefined ? analytics.counts(scenario) : exposure.variantCounts(scenario);
  }

  private delta(scenario: string, variant: string): VariantDelta {
    const key = `${scenario}\u0000${variant}`;
    let delta = this.pending.get(key);
    if (delta === undefined) {
      delta = { scenario, variant, impressions: 0, clicks: 0 };
      this.pending.set(key, delta);
    }
    return delta;
  }

  private async write(): Promise<void> {
    const deltas = [...this.pending.values()];
    this.pending = new Map();
    const { analytics, exposure, logger } = this.options;
    try {
      if (analytics === undefined) {
        await exposure.addVariantCounts(deltas);
        return;
      }
      const now = minuteOf(Date.now());
      const flush = `${this.instance}/${this.flushes++}`;
      const rows = [
        ...this.failed,
        ...this.clickRows,
        ...deltas.map((d) => ({ ...d, minute: now, clicks: 0, key: `impressions/${flush}` })),
      ];
      this.failed = this.bounded(rows);
      this.clickRows = [];
      if (this.failed.length > 0) await analytics.write(this.failed);
      this.failed = [];
    } catch (err) {
      if (analytics === undefined) for (const d of deltas) this.merge(d);
      logger.warn({ err }, 'variant counts not written; retrying at the next flush');
      throw err;
    }
  }

  private bounded(rows: VariantRow[]): VariantRow[] {
    const max = this.options.maxPendingClicks ?? 100_000;
    if (rows.length <= max) return rows;
    this.options.logger.warn(
      { dropped: rows.length - max },
      'variant rows dropped: the analytics store is behind',
    );
    return rows.slice(rows.length - max);
  }

  private merge(d: VariantDelta): void {
    const delta = this.delta(d.scenario, d.variant);
    delta.impressions += d.impressions;
    delta.clicks += d.clicks;
  }
}
