import { Kafka, Partitioners, logLevel, type Consumer, type LogEntry, type Producer } from 'kafkajs';
import { Observable, type Subscriber } from 'rxjs';
import type { ContentEvent, InteractionEvent } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { BatchProcessor } from '../pipeline/processor.ts';
import type { Work } from '../pipeline/stream.ts';
import type { ChunkResult, DeadLetter, DeadLetterSink, SourceMessage } from '../pipeline/types.ts';
import { deadLetterSends } from './dead-letter-records.ts';
import { Lane } from './lane.ts';

export interface KafkaIngestOptions {
  brokers: string[];
  clientId: string;
  groupId: string;
  eventsTopic: string;
  /** Content-published events, consumed in the same group. */
  contentsTopic: string;
  deadLetterTopic: string;
  /** Partitions of topics that freshet creates when they are missing. */
  partitions: number;
  /** Most messages handed to the pipeline as one chunk. */
  maxEvents: number;
  /** Partitions whose chunks are in the pipeline at once (one chunk per partition). Default 1. */
  concurrency?: number;
  /** How long the group waits for a silent member before reassigning its partitions, ms. */
  sessionTimeoutMs?: number;
  /** Most bytes fetched from one partition per request (kafkajs default 1 MiB). */
  maxBytesPerPartition?: number;
  processor: BatchProcessor;
  logger: Logger;
  /** Consumer lag per assigned partition is reported here. */
  metrics?: Pick<Metrics, 'consumerLag'>;
}

/** Group errors after which kafkajs must re-join (kafkajs's own rebalance test, by error type). */
const REJOIN_ERRORS = new Set([
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
]);
/** Pause before the consumer is started again after a crash kafkajs does not recover from, ms. */
const CRASH_RESTART_MS = 5_000;
/** How often a chunk the pipeline holds beats; kafkajs sends one per heartbeatInterval at most. */
const HELD_HEARTBEAT_MS = 1_000;
/**
 * Least time from the start of one Kafka offset commit of a partition to the next. Under a steady
 * trickle each small batch would commit, some 200 commits a second at 5,000 events/s, which the
 * broker's group coordinator pays for while the state already holds every offset.
 */
const COMMIT_INTERVAL_MS = 100;
/** Chunks of a partition fetched and queued while the one before them is applied. */
const QUEUED_CHUNKS = 1;

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A chunk waiting in its partition's lane, with what it needs of the batch it came in. */
interface Queued extends Pick<Work, 'chunk' | 'stale' | 'heartbeat'> {
  highWatermark: string;
}

interface StoredOffset {
  topic: string;
  partition: number;
  offset: string | null;
}

/** Routes kafkajs's own log lines into the component's logger. */
function kafkaLogCreator(logger: Logger) {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...fields } = log;
      child[LEVELS[level] ?? 'info'](fields, message);
    };
}

/**
 * Consumes the events topic in a consumer group. Each fetched batch is cut into
 * chunks queued in their partition's lane (src/sources/lane.ts), which hands them
 * to the pipeline one at a time per partition (several partitions at once with
 * `concurrency`) while the next fetch is made. The Kafka offset is committed
 * only after the pipeline has stored the chunk's state and next offset; a chunk
 * not applied drops those queued behind it, and the partition is fetched again
 * from it. On every (re)join the consumer seeks each assigned partition to the
 * offset stored with its state.
 */
export class KafkaIngest implements DeadLetterSink {
  readonly work$: Observable<Work>;
  private readonly options: KafkaIngestOptions;
  private readonly kafka: Kafka;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly logger: Logger;
  private subscriber: Subscriber<Work> | undefined;
  private running = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Each partition's chunks, applied in order while the next are fetched, by "topic|partition". */
  private readonly lanes = new Map<string, Lane<Queued>>();
  /** A group error a chunk met, for kafkajs to see from its next batch. */
  private rejoin: unknown;
  /** Chunks in the pipeline's hands, and Kafka offset commits on their way: stop() waits for both. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Kafka offsets waiting for the partition's commit in flight, by topic and partition. */
  private readonly pendingCommits = new Map<string, { offset: string }>();
  /** Partitions whose lag a batch has reported since the last join, as "topic/partition". */
  private readonly lagReported = new Set<string>();
  /** Joins so far: a report of an earlier join's lag is dropped. */
  private joins = 0;

  constructor(options: KafkaIngestOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: 'kafka' });
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(options.logger),
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
    this.consumer = this.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      // An idle fetch waits this long for data; a graceful stop waits for that fetch (default 5 s).
      maxWaitTimeInMs: 1_000,
      // A fetch response holds every assigned partition's bytes: room for four full ones.
      ...(options.maxBytesPerPartition === undefined
        ? {}
        : { maxBytesPerPartition: options.maxBytesPerPartition, maxBytes: Math.max(10 * 2 ** 20, 4 * options.maxBytesPerPartition) }),
    });
    this.producer = this.kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
    this.work$ = new Observable<Work>((subscriber) => {
      this.subscriber = subscriber;
      return () => {
        this.subscriber = undefined;
      };
    });
  }

  /** Creates missing topics, joins the group and starts handing work to the pipeline. */
  async start(topics: string[]): Promise<void> {
    await this.producer.connect();
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length > 0) {
        await admin.createTopics({
          topics: missing.map((topic) => ({ topic, numPartitions: this.options.partitions })),
          waitForLeaders: true,
        });
      }
    } finally {
      await admin.disconnect();
    }

    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      this.options.metrics?.consumerLag.reset();
      this.lagReported.clear();
      // Chunks queued before the join may be of partitions now another member's, and each
      // partition is sought to its stored offset: they are fetched again as needed.
      for (const lane of this.lanes.values()) lane.reset();
      this.rejoin = undefined;
      const join = ++this.joins;
      void this.seekToStoredOffsets(event.payload.memberAssignment).then((stored) => this.reportJoinLag(stored, join));
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => this.crashed(payload.error, payload.restart));
    this.running = true;
    await this.consume();
  }

  /** Joins the group and hands each fetched batch to the pipeline, chunk by chunk. */
  private async consume(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({
      topics: [this.options.eventsTopic, this.options.contentsTopic],
      fromBeginning: true,
    });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, this.options.concurrency ?? 1),
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        this.throwRejoin();
        const { topic, partition } = batch;
        this.reportLag(topic, partition, batch.highWatermark, batch.firstOffset() ?? batch.highWatermark);
        const lane = this.lane(topic, partition);
        const epoch = lane.epoch;
        const stale = () => !this.running || !isRunning() || isStale();
        for (let i = 0; i < batch.messages.length; i += this.options.maxEvents) {
          if (stale()) return;
          const messages: SourceMessage[] = batch.messages
            .slice(i, i + this.options.maxEvents)
            .map((m) => ({ offset: m.offset, key: m.key, value: m.value }));
          const last = messages[messages.length - 1] as SourceMessage;
          const queued = await lane.offer({ chunk: { topic, partition, messages }, highWatermark: batch.highWatermark, stale, heartbeat }, epoch);
          if (!queued || stale()) return;
          // The next fetch starts after the queued chunk. Only the Kafka commit, made once the
          // chunk's state is stored, says how far the partition was applied.
          resolveOffset(last.offset);
        }
        // Less than a chunk behind the partition's end, the next fetch waits for these to be
        // applied: what arrives meanwhile then comes as one batch rather than as many small ones,
        // each a commit of its own. Behind by more (a backlog), it is made once the partition's
        // last chunk is the one being applied, so that it arrives while that one is: fetched as
        // soon as the chunks were queued, its messages waited in memory a whole chunk longer.
        const end = batch.messages[batch.messages.length - 1];
        if (end !== undefined && BigInt(batch.highWatermark) - BigInt(end.offset) - 1n < BigInt(this.options.maxEvents)) {
          await lane.idle();
        } else {
          await lane.atMost(1);
        }
        await heartbeat();
        this.throwRejoin();
      },
    });
  }

  /** The lane of a partition, made at its first chunk. */
  private lane(topic: string, partition: number): Lane<Queued> {
    const key = `${topic}|${partition}`;
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      lane = new Lane<Queued>(QUEUED_CHUNKS, (queued) => this.applyQueued(queued, lane as Lane<Queued>));
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /**
   * Hands a queued chunk to the pipeline and commits its Kafka offset once its state is stored;
   * true when it was applied. A chunk not applied (fenced, or given up) drops the chunks queued
   * behind it, and the partition is fetched again from its first message.
   */
  private async applyQueued(queued: Queued, lane: Lane<Queued>): Promise<boolean> {
    const { topic, partition, messages } = queued.chunk;
    if (queued.stale()) return false;
    const step = this.hand(queued).catch((err: unknown) => this.givenUp(err, topic, partition));
    this.inFlight.add(step);
    let result: ChunkResult | undefined;
    try {
      result = await step;
    } finally {
      this.inFlight.delete(step);
    }
    if (result !== undefined && result.nextOffset !== null) {
      this.reportLag(topic, partition, queued.highWatermark, result.nextOffset);
      this.commitSoon(topic, partition, result.nextOffset);
      return true;
    }
    lane.reset();
    // A seek already pending (a join's, to the stored offset) and a stopping consumer need none.
    const first = messages[0];
    if (first !== undefined && !queued.stale()) this.consumer.seek({ topic, partition, offset: first.offset });
    return false;
  }

  /** A group error met while a chunk was applied, rethrown to kafkajs from its next batch so that it re-joins. */
  private throwRejoin(): void {
    const err = this.rejoin;
    if (err === undefined) return;
    this.rejoin = undefined;
    throw err;
  }

  private reportLag(topic: string, partition: number, highWatermark: string, next: string): void {
    this.lagReported.add(`${topic}/${partition}`);
    this.options.metrics?.consumerLag.set(
      { topic, partition: String(partition) },
      Math.max(0, Number(BigInt(highWatermark) - BigInt(next))),
    );
  }

  /**
   * The pipeline gives a chunk up only once it is stale (revoked, or sought to the stored
   * offset): none of it was committed, and the partition is fetched again from its first
   * message. Rethrown to kafkajs, an error it deems not retriable would stop its consumer for
   * good; only the group's own errors go back to it (from its next batch), and it re-joins.
   */
  private givenUp(err: unknown, topic: string, partition: number): undefined {
    const type = (err as { type?: unknown } | null)?.type;
    if (typeof type === 'string' && REJOIN_ERRORS.has(type)) {
      this.rejoin = err;
      return undefined;
    }
    this.logger.warn({ err, topic, partition }, 'chunk given up; it will be fetched again');
    return undefined;
  }

  /**
   * kafkajs restarts its consumer after a retriable crash but not after any other: the process
   * would live on and consume nothing. Such a crash restarts it here, after a pause.
   */
  private crashed(error: Error, restarting: boolean): void {
    if (restarting || !this.running) {
      this.logger.warn({ err: error, restarting }, 'kafka consumer crashed');
      return;
    }
    this.logger.error({ err: error }, 'kafka consumer stopped on an error kafkajs does not retry; restarting it');
    this.restartTimer = setTimeout(() => {
      this.consume().catch((err: unknown) => this.crashed(err as Error, false));
    }, CRASH_RESTART_MS);
  }

  /** Letters keep the original key and bytes (huge ones cut); headers carry reason and position. */
  async send(letters: readonly DeadLetter[]): Promise<void> {
    // Bounded requests: letters of one chunk together could exceed Kafka's record batch limit.
    for (const messages of deadLetterSends(letters)) {
      await this.producer.send({ topic: this.options.deadLetterTopic, acks: -1, messages });
    }
  }

  /** Publishes events to the events topic, keyed by user (the HTTP input in Kafka mode). */
  async produce(events: readonly InteractionEvent[]): Promise<void> {
    await this.producer.send({
      topic: this.options.eventsTopic,
      acks: -1,
      messages: events.map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
    });
  }

  async produceContents(contents: readonly ContentEvent[]): Promise<void> {
    await this.producer.send({
      topic: this.options.contentsTopic,
      acks: -1,
      messages: contents.map((c) => ({ key: c.itemId, value: JSON.stringify(c) })),
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.restartTimer);
    // A chunk that settles meanwhile starts its Kafka commit: waited for too.
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight].map((step) => step.catch(() => undefined)));
    await this.consumer.disconnect();
    await this.producer.disconnect();
  }

  private hand(work: Pick<Work, 'chunk' | 'stale' | 'heartbeat'>): Promise<ChunkResult> {
    return new Promise((resolve, reject) => {
      const subscriber = this.subscriber;
      if (subscriber === undefined) {
        reject(new Error('kafka source has no pipeline subscribed'));
        return;
      }
      // kafkajs heartbeats only between batches. A chunk held back (the analytics outbox at its
      // bound while ClickHouse is down) would let the session expire and the group drop us.
      const beat = setInterval(() => {
        work.heartbeat().catch((err: unknown) => {
          this.logger.debug({ err }, 'heartbeat while a chunk is held failed');
        });
      }, HELD_HEARTBEAT_MS);
      subscriber.next({
        ...work,
        done: (result) => {
          clearInterval(beat);
          resolve(result);
        },
        failed: (error) => {
          clearInterval(beat);
          reject(error);
        },
      });
    });
  }

  /**
   * Commits a partition's Kafka offset without holding up the partition's next chunk: an offset
   * commit is a round trip to the group coordinator. The stored offset is the one that counts (every join seeks to it), so
   * a commit still on its way when the partition moves costs nothing. One commit per partition is
   * in flight at a time, and the next starts COMMIT_INTERVAL_MS after it at the earliest; offsets
   * that arrive meanwhile collapse into the latest.
   */
  private commitSoon(topic: string, partition: number, offset: string): void {
    const key = `${topic}|${partition}`;
    const queued = this.pendingCommits.get(key);
    if (queued !== undefined) {
      queued.offset = offset;
      return;
    }
    const entry = { offset };
    this.pendingCommits.set(key, entry);
    const run = (async () => {
      let committed: string | undefined;
      while (entry.offset !== committed) {
        committed = entry.offset;
        const started = performance.now();
        await this.commit(topic, partition, committed);
        const wait = COMMIT_INTERVAL_MS - (performance.now() - started);
        if (this.running && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      this.pendingCommits.delete(key);
    })();
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  private async commit(topic: string, partition: number, offset: string): Promise<void> {
    try {
      await this.consumer.commitOffsets([{ topic, partition, offset }]);
    } catch (err) {
      // The state store holds the offset; the next owner resumes from there.
      this.logger.info({ err, topic, partition, offset }, 'kafka offset commit failed; state keeps the offset');
    }
  }

  /** Seeks each assigned partition to its stored offset; resolves with those read (null: none stored). */
  private async seekToStoredOffsets(assignment: Record<string, number[]>): Promise<StoredOffset[]> {
    this.options.processor.forgetCursors();
    const stored: StoredOffset[] = [];
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        try {
          const offset = await this.options.processor.storedOffset(topic, partition);
          if (offset !== null) this.consumer.seek({ topic, partition, offset });
          stored.push({ topic, partition, offset });
        } catch (err) {
          this.logger.warn({ err, topic, partition }, 'could not read stored offset; resuming from the group offset');
        }
      }
    }
    return stored;
  }

  /**
   * Sets the lag of each assigned partition at the join, from its end and the offset stored with
   * the state (its start when none is), so that a partition without new messages shows its lag
   * (0 when caught up) rather than none. A batch's own report since the join wins.
   */
  private async reportJoinLag(stored: readonly StoredOffset[], join: number): Promise<void> {
    const gauge = this.options.metrics?.consumerLag;
    if (gauge === undefined || stored.length === 0) return;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      for (const topic of new Set(stored.map((s) => s.topic))) {
        const ends = await admin.fetchTopicOffsets(topic);
        for (const { partition, offset } of stored.filter((s) => s.topic === topic)) {
          const end = ends.find((e) => e.partition === partition);
          if (end === undefined || join !== this.joins || this.lagReported.has(`${topic}/${partition}`)) continue;
          const lag = BigInt(end.high) - BigInt(offset ?? end.low);
          gauge.set({ topic, partition: String(partition) }, Math.max(0, Number(lag)));
        }
      }
    } catch (err) {
      this.logger.debug({ err }, 'lag at the join not read; batches report it');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
