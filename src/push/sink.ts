import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';

/** One push to send: the message on the push requests topic (key = userId). */
export interface PushRequest {
  /** `<campaignId>/<stage>/<userId>`: a delivery service can deduplicate on it. */
  requestId: string;
  campaignId: string;
  itemId: string;
  userId: string;
  stage: number;
  /** When the campaign emitted it, ms. */
  ts: number;
}

/** Where push requests go. A request is emitted only after its recipient's cap was claimed. */
export interface PushSink {
  readonly kind: 'kafka' | 'memory';
  send(requests: readonly PushRequest[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * The embedded mode's sink: keeps the most recent requests in process (a
 * bounded ring) and hands each batch to an optional listener.
 */
export class MemoryPushSink implements PushSink {
  readonly kind = 'memory' as const;
  readonly recent: PushRequest[] = [];
  private readonly capacity: number;
  private readonly listener:
    ((requests: readonly PushRequest[]) => void | Promise<void>) | undefined;

  constructor(
    options: {
      capacity?: number;
      listener?: (requests: readonly PushRequest[]) => void | Promise<void>;
    } = {},
  ) {
    this.capacity = options.capacity ?? 10_000;
    this.listener = options.listener;
  }

  async send(requests: readonly PushRequest[]): Promise<void> {
    this.recent.push(...requests);
    this.recent.splice(0, Math.max(0, this.recent.length - this.capacity));
    await this.listener?.(requests);
  }

  async close(): Promise<void> {}
}

export interface KafkaPushSinkOptions {
  brokers: string[];
  clientId: string;
  topic: string;
}

/** Push requests on a Kafka topic, keyed by user, acknowledged by all in-sync replicas. */
export class KafkaPushSink implements PushSink {
  readonly kind = 'kafka' as const;
  private readonly producer: Producer;
  private readonly topic: string;
  private connected: Promise<void> | undefined;

  constructor(options: KafkaPushSinkOptions) {
    this.topic = options.topic;
    const kafka = new Kafka({
      clientId: `${options.clientId}-push`,
      brokers: options.brokers,
      logLevel: logLevel.NOTHING,
    });
    this.producer = kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
  }

  async send(requests: readonly PushRequest[]): Promise<void> {
    if (requests.length === 0) return;
    this.connected ??= this.producer.connect();
    await this.connected;
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: requests.map((r) => ({ key: r.userId, value: JSON.stringify(r) })),
    });
  }

  async close(): Promise<void> {
    if (this.connected !== undefined) await this.producer.disconnect();
  }
}
