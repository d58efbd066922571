import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { backoffMs } from '../retry.ts';
import type { PushAnalytics } from './clickhouse.ts';
import { reportCampaigns, type PushMetrics } from './metrics.ts';
import type { PushStore } from './store.ts';
import type { CampaignWorker } from './worker.ts';

export interface PushLoopOptions {
  worker: CampaignWorker;
  store: PushStore;
  /** Campaign records go to ClickHouse when configured. */
  analytics: PushAnalytics | undefined;
  metrics: Pick<Metrics, 'campaigns' | 'campaignLift'>;
  pushMetrics: PushMetrics;
  logger: Logger;
  /** Pause between passes, ms. */
  tickMs: number;
  /** Campaigns counted in the gauges: the most recent ones. Default 1000. */
  reportLimit?: number;
}

/**
 * Runs the campaign worker every `tickMs`, then reports the campaigns to the
 * metrics and writes changed records to ClickHouse. A failing pass is logged
 * and retried at the next tick with capped backoff; it never stops the engine.
 */
export class PushLoop {
  private readonly options: PushLoopOptions;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(options: PushLoopOptions) {
    this.options = options;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  /** One pass: the worker's tick, the gauges, the analytics write, the old campaigns' deletion. */
  async runOnce(): Promise<void> {
    const { worker, store, analytics, metrics } = this.options;
    await worker.tick();
    reportCampaigns(metrics, await store.list(this.options.reportLimit ?? 1000));
    if (analytics !== undefined) await analytics.flush(store);
    await worker.prune(analytics !== undefined);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        await this.runOnce();
        failures = 0;
        this.options.pushMetrics.ticks.inc({ result: 'ok' });
      } catch (err) {
        failures++;
        this.options.pushMetrics.ticks.inc({ result: 'error' });
        this.options.logger.warn({ err, failures }, 'push loop pass failed; retrying');
      }
      if (this.stopped) break;
      const wait = backoffMs(failures + 1, this.options.tickMs, 60_000);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
