import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ClickHouseSink } from '../analytics/clickhouse.ts';
import type { FreshetConfig } from '../config/env.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { OnlineModel } from '../model/online-mf.ts';
import { MemoryStateStore } from '../state/memory.ts';
import { RedisStateStore } from '../state/redis.ts';
import type { StateStore } from '../state/store.ts';
import { PushAnalytics } from './clickhouse.ts';
import { PushLoop } from './loop.ts';
import { MemoryPushStore } from './memory-store.ts';
import { createPushMetrics } from './metrics.ts';
import { pushParams } from './params.ts';
import { RedisPushStore } from './redis-store.ts';
import { KafkaPushSink, MemoryPushSink, type PushSink } from './sink.ts';
import type { PushStore } from './store.ts';
import { CampaignWorker } from './worker.ts';

export interface PushRuntimeOptions {
  config: FreshetConfig;
  /** The engine's state store: the push loop keeps its records next to it. */
  state: StateStore;
  model: OnlineModel;
  clickhouse: ClickHouseSink | undefined;
  metrics: Metrics;
  logger: Logger;
}

/** The push store that belongs with a state store: same Redis and prefix, or the same process. */
export function pushStoreFor(state: StateStore, prefix: string): PushStore {
  if (state instanceof RedisStateStore) return new RedisPushStore(state.client, prefix);
  if (state instanceof MemoryStateStore) return new MemoryPushStore(state.push);
  throw new Error(`no push store for a ${state.kind} state store`);
}

/**
 * The push loop as the engine runs it: campaign records always readable (the
 * API), the loop itself only with PUSH_ENABLED=true. Push requests go to the
 * Kafka topic with KAFKA_BROKERS, else to an in-process sink.
 */
export class PushRuntime {
  readonly store: PushStore;
  readonly sink: PushSink;
  readonly loop: PushLoop | undefined;
  private readonly analytics: PushAnalytics | undefined;

  constructor(options: PushRuntimeOptions) {
    const { config, state, model, clickhouse, metrics } = options;
    const logger = options.logger.child({ component: 'push' });
    this.store = pushStoreFor(state, config.redisPrefix);
    this.sink = config.kafka
      ? new KafkaPushSink({
          brokers: config.kafka.brokers,
          clientId: config.kafka.clientId,
          topic: config.push.topic,
        })
      : new MemoryPushSink();
    this.analytics = clickhouse
      ? new PushAnalytics(clickhouse.client, clickhouse.database)
      : undefined;
    if (!config.push.enabled) return;

    const pushMetrics = createPushMetrics(metrics.registry);
    const worker = new CampaignWorker({
      state,
      push: this.store,
      model,
      sink: this.sink,
      params: pushParams(config.push.params),
      logger,
      owner: `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
      observer: {
        decided: (d) => pushMetrics.decisions.inc({ action: d.action }),
        sent: (requests) => pushMetrics.requests.inc(requests.length),
      },
    });
    this.loop = new PushLoop({
      worker,
      store: this.store,
      analytics: this.analytics,
      metrics,
      pushMetrics,
      logger,
      tickMs: config.push.tickMs,
    });
  }

  async start(): Promise<void> {
    await this.analytics?.migrate();
    this.loop?.start();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
    await this.sink.close();
  }
}
