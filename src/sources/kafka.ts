import { Kafka, logLevel, type Consumer, type LogEntry, type Producer } from 'kafkajs';
import { Observable, type Subscriber } from 'rxjs';
import type { InteractionEvent } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import type { BatchProcessor } from '../pipeline/processor.ts';
import type { Work } from '../pipeline/stream.ts';
import type { ChunkResult, DeadLetter, DeadLetterSink, SourceMessage } from '../pipeline/types.ts';

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
  processor: BatchProcessor;
  logger: Logger;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

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
 * chunks handed to the pipeline one at a time; the Kafka offset is committed
 * only after the pipeline has stored the chunk's state and next offset. On
 * every (re)join the consumer seeks each assigned partition to the offset
 * stored with its state.
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
    this.consumer = this.kafka.consumer({ groupId: options.groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000 });
    this.producer = this.kafka.producer({ allowAutoTopicCreation: true });
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

    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      void this.seekToStoredOffsets(event.payload.memberAssignment);
    });
    await this.consumer.subscribe({
      topics: [this.options.eventsTopic, this.options.contentsTopic],
      fromBeginning: true,
    });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { topic, partition } = batch;
        for (let i = 0; i < batch.messages.length; i += this.options.maxEvents) {
          if (!isRunning() || isStale()) return;
          const messages: SourceMessage[] = batch.messages
            .slice(i, i + this.options.maxEvents)
            .map((m) => ({ offset: m.offset, key: m.key, value: m.value }));
          const result = await this.hand({
            chunk: { topic, partition, messages },
            stale: () => !isRunning() || isStale(),
            heartbeat,
          });
          if (result.nextOffset === null) return;
          resolveOffset((BigInt(result.nextOffset) - 1n).toString());
          await this.commit(topic, partition, result.nextOffset);
          await heartbeat();
        }
      },
    });
  }

  /** Dead letters keep the original key and bytes; headers carry the reason and the source position. */
  async send(letters: readonly DeadLetter[]): Promise<void> {
    await this.producer.send({
      topic: this.options.deadLetterTopic,
      acks: -1,
      messages: letters.map((l) => ({
        key: l.key,
        value: l.value,
        headers: {
          'freshet-reason': l.reason,
          'freshet-field': l.field,
          'freshet-topic': l.topic,
          'freshet-partition': String(l.partition),
          'freshet-offset': l.offset,
        },
      })),
    });
  }

  /** Publishes events to the events topic, keyed by user (the HTTP input in Kafka mode). */
  async produce(events: readonly InteractionEvent[]): Promise<void> {
    await this.producer.send({
      topic: this.options.eventsTopic,
      acks: -1,
      messages: events.map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
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
      subscriber.next({ ...work, done: resolve, failed: reject });
    });
  }

  private async commit(topic: string, partition: number, offset: string): Promise<void> {
    try {
      await this.consumer.commitOffsets([{ topic, partition, offset }]);
    } catch (err) {
      // The state store holds the offset; the next owner resumes from there.
      this.logger.info({ err, topic, partition, offset }, 'kafka offset commit failed; state keeps the offset');
    }
  }

  private async seekToStoredOffsets(assignment: Record<string, number[]>): Promise<void> {
    this.options.processor.forgetCursors();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        try {
          const offset = await this.options.processor.storedOffset(topic, partition);
          if (offset !== null) this.consumer.seek({ topic, partition, offset });
        } catch (err) {
          this.logger.warn({ err, topic, partition }, 'could not read stored offset; resuming from the group offset');
        }
      }
    }
  }
}
