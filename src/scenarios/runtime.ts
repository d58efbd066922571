import type { ClickHouseSink } from '../analytics/clickhouse.ts';
import type { Logger } from '../log.ts';
import type { ItemIndex } from '../serve/item-index.ts';
import type { Recommender } from '../serve/recommender.ts';
import { RedisStateStore } from '../state/redis.ts';
import type { StateStore } from '../state/store.ts';
import type { ServingReads } from './candidates.ts';
import { MemoryExposureStore, type ExposureOptions, type ExposureStore } from './exposure.ts';
import { RedisExposureStore } from './exposure-redis.ts';
import { Feedback } from './feedback.ts';
import { ScenarioRegistry } from './registry.ts';
import { buildReport, type ScenarioReport } from './report.ts';
import { ScenarioService } from './service.ts';
import { VariantTracker } from './tracker.ts';
import { VariantAnalytics } from './variant-analytics.ts';

export interface ScenarioRuntimeOptions {
  pipelinesDir: string;
  logger: Logger;
  /** The state store: its Redis connection, if any, also keeps exposure. */
  store: StateStore;
  redisPrefix: string;
  /** Reads through the hot-key cache. */
  reads: ServingReads;
  index: ItemIndex;
  recommender: Recommender;
  clickhouse: ClickHouseSink | undefined;
  exposure: ExposureOptions;
  reloadDebounceMs: number;
  flushMs: number;
  indexMaxStalenessMs: number;
}

/**
 * Everything scenarios need, wired once per engine: the registry of
 * pipeline files (watched, and reloaded on SIGHUP), the service that answers
 * requests, the exposure store, variant counters and the feedback from
 * committed clicks.
 */
export class ScenarioRuntime {
  readonly registry: ScenarioRegistry;
  readonly service: ScenarioService;
  readonly exposure: ExposureStore;
  readonly tracker: VariantTracker;
  readonly feedback: Feedback;
  private readonly analytics: VariantAnalytics | undefined;
  private readonly logger: Logger;
  private readonly onHangup = () => {
    this.logger.info('SIGHUP: reloading scenario files');
    try {
      this.registry.reload();
    } catch (err) {
      this.logger.error({ err }, 'pipelines directory could not be read');
    }
  };

  /** Loads the scenario files now: a bad one throws, naming the file, the line and the field. */
  constructor(options: ScenarioRuntimeOptions) {
    this.logger = options.logger.child({ component: 'scenarios' });
    this.registry = new ScenarioRegistry({
      dir: options.pipelinesDir,
      logger: this.logger,
      debounceMs: options.reloadDebounceMs,
    });
    this.registry.loadInitial();
    const store = options.store;
    this.exposure =
      store instanceof RedisStateStore
        ? new RedisExposureStore(store.client, options.redisPrefix, options.exposure)
        : new MemoryExposureStore(options.exposure);
    const ch = options.clickhouse;
    this.analytics = ch === undefined ? undefined : new VariantAnalytics(ch.client, ch.database);
    this.tracker = new VariantTracker({
      exposure: this.exposure,
      analytics: this.analytics,
      logger: this.logger,
      flushMs: options.flushMs,
    });
    this.service = new ScenarioService({
      recommender: options.recommender,
      index: options.index,
      reads: options.reads,
      exposure: this.exposure,
      tracker: this.tracker,
      maxStalenessMs: options.indexMaxStalenessMs,
    });
    this.feedback = new Feedback({
      tracker: this.tracker,
      registry: this.registry,
      logger: this.logger,
    });
  }

  async start(): Promise<void> {
    await this.analytics?.migrate();
    this.registry.watch();
    process.on('SIGHUP', this.onHangup);
    this.tracker.start();
  }

  async stop(): Promise<void> {
    process.off('SIGHUP', this.onHangup);
    this.registry.close();
    await this.tracker.stop();
  }

  /** Impressions, clicks and CTR per variant; undefined for an unknown scenario. */
  async report(name: string): Promise<ScenarioReport | undefined> {
    const scenario = this.registry.get(name);
    if (scenario === undefined) return undefined;
    return buildReport(scenario, await this.tracker.counts(name), this.tracker.source);
  }
}
