import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { merge } from 'rxjs';
import { AnalyticsFlusher } from './analytics/flusher.ts';
import { ClickHouseSink, NoAnalytics } from './analytics/clickhouse.ts';
import type { AnalyticsSink } from './analytics/sink.ts';
import { campaignRoutes } from './api/campaign-routes.ts';
import { buildApi, type EventIntake, type Intake } from './api/server.ts';
import type { FreshetConfig } from './config/env.ts';
import { loadModelParams } from './config/model-file.ts';
import { FreshetError } from './errors.ts';
import type { ContentEvent, InteractionEvent } from './events/schema.ts';
import type { Logger } from './log.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { PrequentialSampler } from './monitoring/prequential.ts';
import { PushRuntime } from './push/runtime.ts';
import { OnlineModel } from './model/online-mf.ts';
import { BatchProcessor } from './pipeline/processor.ts';
import { EmbeddedSource, applyWork } from './pipeline/stream.ts';
import type { DeadLetter, DeadLetterSink } from './pipeline/types.ts';
import { retryUntilDone } from './retry.ts';
import { ScenarioRuntime } from './scenarios/runtime.ts';
import { CachedStateStore } from './serve/cache.ts';
import { ItemIndex } from './serve/item-index.ts';
import { Recommender } from './serve/recommender.ts';
import { KafkaIngest } from './sources/kafka.ts';
import { MemoryStateStore } from './state/memory.ts';
import { foldClickedLayout, isRedisRefusal } from './state/migrate.ts';
import { RedisStateStore } from './state/redis.ts';
import { ExpirySweeper } from './state/sweep.ts';
import type { StateStore } from './state/store.ts';

/** The embedded mode's inputs, as topic names: their offsets are stored under them. */
const EMBEDDED_EVENTS_TOPIC = 'http';
const EMBEDDED_CONTENTS_TOPIC = 'http-contents';

/** Dead letters of the embedded mode: logged and kept in a bounded ring. */
class LoggedDeadLetters implements DeadLetterSink {
  readonly recent: DeadLetter[] = [];
  private readonly logger: Logger;
  constructor(logger: Logger) {
    this.logger = logger;
  }
  async send(letters: readonly DeadLetter[]): Promise<void> {
    for (const letter of letters) {
      const { topic, partition, offset, field, reason } = letter;
      this.logger.info({ topic, partition, offset, field, reason }, 'event rejected');
      this.recent.push(letter);
    }
    this.recent.splice(0, Math.max(0, this.recent.length - 1000));
  }
}

export interface Engine {
  config: FreshetConfig;
  api: FastifyInstance;
  store: StateStore;
  sink: AnalyticsSink;
  metrics: Metrics;
  model: OnlineModel;
  /** The API's reads of the state, through the hot-key cache. */
  reads: CachedStateStore;
  scenarios: ScenarioRuntime;
  /** The push loop (docs/push.md): campaign records, and the loop itself with PUSH_ENABLED. */
  push: PushRuntime;
  /** Input of the embedded mode; undefined when events come from Kafka. */
  embedded: EmbeddedSource<InteractionEvent> | undefined;
  flusher: AnalyticsFlusher | undefined;
  /** Starts consuming and serving; resolves with the API's address. */
  start(): Promise<string>;
  /** Graceful stop: no new input, in-flight batch applied and committed, stores flushed and closed. */
  stop(): Promise<void>;
}

export function createEngine(config: FreshetConfig, logger: Logger, registry = new Registry()): Engine {
  const params = loadModelParams(config.pipelinesDir);
  const metrics = createMetrics(registry);
  const model = new OnlineModel(params);
  const store: StateStore = config.redisUrl
    ? new RedisStateStore({
        url: config.redisUrl,
        prefix: config.redisPrefix,
        dimensions: params.dimensions,
        ttl: { userMs: config.userTtlMs, itemMs: config.itemTtlMs },
        clickedMax: config.clickedMaxItems,
        logger: logger.child({ component: 'redis' }),
      })
    : new MemoryStateStore({
        clickedMax: config.clickedMaxItems,
        ttl: { userMs: config.userTtlMs, itemMs: config.itemTtlMs },
      });
  const clickhouse = config.clickhouse
    ? new ClickHouseSink({ ...config.clickhouse, logger: logger.child({ component: 'clickhouse' }) })
    : undefined;
  const sink: AnalyticsSink = clickhouse ?? new NoAnalytics();
  const flusher = clickhouse
    ? new AnalyticsFlusher({
        store,
        sink,
        metrics,
        logger,
        intervalMs: config.analytics.flushMs,
        maxPending: config.analytics.maxPending,
      })
    : undefined;

  const itemTtlMs = config.itemTtlMs;
  // Commits sweep expired entries as they write; this sweeps them while the input is quiet.
  // (Redis expires user keys itself: there the sweep is of items only.)
  const sweptTtls = (store.kind === 'redis' ? [itemTtlMs] : [itemTtlMs, config.userTtlMs]).filter((ms) => ms > 0);
  const sweptTtlMs = Math.min(...sweptTtls);
  const sweeper = sweptTtls.length > 0
    ? new ExpirySweeper({
        sweep: (limit) => store.sweepExpired(limit),
        intervalMs: Math.min(60_000, Math.max(1_000, sweptTtlMs / 10)),
        logger: logger.child({ component: 'expiry' }),
      })
    : undefined;
  const index = new ItemIndex(store, params.dimensions, Date.now, metrics, config.indexBoundMinItems, itemTtlMs);
  // In-process state needs no cache; Redis reads of hot keys are cached briefly and coalesced.
  const cacheTtlMs = store.kind === 'redis' ? config.serving.cacheTtlMs : 0;
  const reads = new CachedStateStore(store, { ttlMs: cacheTtlMs, maxEntries: config.serving.cacheMaxEntries });
  const recommender = new Recommender(reads, index, params, config.indexMaxStalenessMs);
  const scenarios = new ScenarioRuntime({
    pipelinesDir: config.pipelinesDir,
    logger,
    store,
    redisPrefix: config.redisPrefix,
    reads,
    index,
    recommender,
    clickhouse,
    exposure: { maxShown: config.scenarios.shownMaxItems, ttlMs: config.scenarios.shownTtlMs },
    reloadDebounceMs: config.scenarios.reloadDebounceMs,
    flushMs: config.analytics.flushMs,
    indexMaxStalenessMs: config.indexMaxStalenessMs,
  });
  // The quality sample ranks with the serving index (one copy of the catalogue in memory) and
  // its own answer cache, reading the store directly: what the API would serve, uncached. It
  // refreshes the index in the background at most once a second, and never waits for it.
  const quality = new PrequentialSampler({
    recommender: new Recommender(store, index, params, 1000, true),
    isPositive: (e) => model.isPositive(e),
    metrics,
  });

  const deadLetters = new LoggedDeadLetters(logger.child({ component: 'dead-letters' }));
  let kafka: KafkaIngest | undefined;
  const processor = new BatchProcessor({
    store,
    model,
    deadLetters: { send: (letters) => (kafka ?? deadLetters).send(letters) },
    metrics,
    logger: logger.child({ component: 'pipeline' }),
    group: config.kafka?.groupId ?? 'embedded',
    maxEvents: config.batch.maxEvents,
    analytics: clickhouse !== undefined,
    maxFutureMs: config.maxFutureMs,
    contentsTopic: config.kafka?.contentsTopic ?? EMBEDDED_CONTENTS_TOPIC,
    beforeChunk: flusher ? () => flusher.waitForRoom() : undefined,
    beforeApply: (events) => quality.observe(events),
    afterCommit: (events) => {
      index.markStale();
      reads.committed(events.map((e) => e.itemId));
      scenarios.feedback.committed(events);
    },
  });

  let stopping = false;
  let embedded: EmbeddedSource<InteractionEvent> | undefined;
  let embeddedContents: EmbeddedSource<ContentEvent> | undefined;
  let intake: EventIntake;
  let contents: Intake<ContentEvent>;
  if (config.kafka) {
    const k = config.kafka;
    const { maxEvents, concurrency } = config.batch;
    kafka = new KafkaIngest({ ...k, maxEvents, concurrency, processor, logger, metrics });
    const producer = kafka;
    intake = { submit: (events) => producer.produce(events), full: () => false, maxEventsPerRequest: Infinity, maxFutureMs: config.maxFutureMs };
    contents = { submit: (events) => producer.produceContents(events), full: () => false, maxEventsPerRequest: Infinity };
  } else {
    // Two inputs, each numbered as one partition of its own: interactions and contents.
    const embeddedInput = <T>(topic: string, keyOf: (event: T) => string) => {
      const source = new EmbeddedSource<T>({
        topic,
        maxEvents: config.batch.maxEvents,
        maxMs: config.batch.maxMs,
        maxPending: config.maxPendingEvents,
        storedOffset: () => processor.storedOffset(topic, 0),
        keyOf,
      });
      const intake: Intake<T> = { submit: (events) => source.submit(events), full: (n) => source.full(n), maxEventsPerRequest: source.capacity };
      return { source, intake };
    };
    const events = embeddedInput<InteractionEvent>(EMBEDDED_EVENTS_TOPIC, (e) => e.userId);
    const published = embeddedInput<ContentEvent>(EMBEDDED_CONTENTS_TOPIC, (c) => c.itemId);
    embedded = events.source;
    embeddedContents = published.source;
    intake = { ...events.intake, maxFutureMs: config.maxFutureMs };
    contents = published.intake;
  }

  const api = buildApi({
    recommender,
    intake,
    contents,
    metrics,
    logger,
    scenarios,
    apiKeys: config.apiKeys,
    ready: async () => (await store.ping()) && (clickhouse === undefined || (await clickhouse.ping().catch(() => false))),
  });

  const push = new PushRuntime({ config, state: store, model, clickhouse, metrics, logger });
  api.register(campaignRoutes, { campaigns: push.store });

  let pipeline: ReturnType<typeof applyWork> | undefined;
  const work$ = kafka?.work$ ?? (embedded && embeddedContents ? merge(embedded.work$, embeddedContents.work$) : undefined);

  const stoppedWhileStarting = () => {
    if (stopping) throw new FreshetError('stopped', 'the engine was stopped while it started');
  };
  let tornDown: Promise<void> | undefined;
  /** Stops what runs, once: after a start, or after a start cut short. */
  const teardown = () =>
    (tornDown ??= (async () => {
      // Requests in flight finish. A connection still open half-way to the shutdown deadline is
      // a client that stalled mid-request (Node stops timing requests once its server closes).
      const cut = setTimeout(() => api.server.closeAllConnections(), Math.floor(config.shutdownTimeoutMs / 2));
      try {
        await api.close();
      } finally {
        clearTimeout(cut);
      }
      await kafka?.stop();
      if (embedded) {
        embedded.close();
        embeddedContents?.close();
        await pipeline?.drained;
      }
      pipeline?.subscription.unsubscribe();
      await scenarios.stop();
      await push.stop();
      await flusher?.stop();
      await sweeper?.stop();
      await sink.close();
      await store.close();
    })());
  const begin = async (): Promise<string> => {
    await clickhouse?.migrate();
    if (store instanceof RedisStateStore) {
      // Before the first batch: a user whose value a batch writes in the current layout no longer
      // reads a zset, so one folded after that write would not be read. Nothing is consumed or
      // served until the fold is done: an outage is retried, and a refusal stops the start.
      const fold = () => foldClickedLayout(store.client, config.redisPrefix, config.clickedMaxItems, logger, () => stopping);
      await retryUntilDone(fold, {
        what: 'clicked items of the earlier layout not moved; the engine starts once they are',
        logger,
        stopped: () => stopping,
        permanent: isRedisRefusal,
      }).catch((err: unknown) => {
        throw new FreshetError('store_unavailable', `clicked items of the earlier layout could not be moved: ${(err as Error).message}`, { cause: err });
      });
      stoppedWhileStarting();
    }
    await scenarios.start();
    await push.start();
    stoppedWhileStarting();
    flusher?.start();
    sweeper?.start();
    if (work$ !== undefined) pipeline = applyWork(work$, processor, logger.child({ component: 'pipeline' }), config.batch.concurrency);
    if (kafka && config.kafka) {
      const k = config.kafka;
      await kafka.start([k.eventsTopic, k.deadLetterTopic, k.contentsTopic]);
    }
    stoppedWhileStarting();
    try {
      return await api.listen({ port: config.port, host: config.host });
    } catch (err) {
      // Nothing is served: stop what started, and say which setting to change.
      stopping = true;
      await teardown().catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      throw new FreshetError('config_invalid', `cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`, {
        field: code === 'EADDRINUSE' || code === 'EACCES' ? 'PORT' : 'HOST',
      });
    }
  };
  let started: Promise<string> | undefined;

  return {
    config,
    api,
    store,
    sink,
    metrics,
    model,
    reads,
    scenarios,
    push,
    embedded,
    flusher,
    /** Starts once; a stop during the start ends it early (it then rejects) and stops what it started. */
    start() {
      started ??= begin();
      return started;
    },
    async stop() {
      stopping = true;
      await started?.catch(() => undefined);
      await teardown();
    },
  };
}
