import { pino } from 'pino';
import { createMetrics } from '../../src/metrics.ts';
import { OnlineModel } from '../../src/model/online-mf.ts';
import { DEFAULT_MODEL_PARAMS } from '../../src/model/params.ts';
import { BatchProcessor } from '../../src/pipeline/processor.ts';
import type { PushRequest } from '../../src/push/sink.ts';
import type { StateStore } from '../../src/state/store.ts';

export const silent = pino({ level: 'silent' });
export const MODEL_PARAMS = { ...DEFAULT_MODEL_PARAMS, dimensions: 8 };

/** Feeds events and contents into a state store through the real batch processor. */
export class Feeder {
  readonly processor: BatchProcessor;
  private readonly offsets = new Map<string, number>();

  constructor(store: StateStore, group = 'g') {
    this.processor = new BatchProcessor({
      store,
      model: new OnlineModel(MODEL_PARAMS),
      deadLetters: { send: async () => {} },
      metrics: createMetrics(undefined, false),
      logger: silent,
      group,
      maxEvents: 5000,
      analytics: false,
      maxFutureMs: 10 * 365 * 86_400_000,
      contentsTopic: 'contents',
    });
  }

  async send(topic: string, values: readonly unknown[]): Promise<void> {
    const first = this.offsets.get(topic) ?? 0;
    const messages = values.map((v, i) => ({
      offset: String(first + i),
      key: null,
      value: Buffer.from(JSON.stringify(v)),
    }));
    this.offsets.set(topic, first + values.length);
    const result = await this.processor.process({ topic, partition: 0, messages });
    if (result.nextOffset !== String(first + values.length))
      throw new Error(`feed to ${topic} was not applied`);
  }

  /** `n` users (u000…) who each viewed and clicked two of ten items an hour before `ts`. */
  async users(n: number, ts: number): Promise<string[]> {
    const ids = Array.from({ length: n }, (_, i) => `u${String(i).padStart(3, '0')}`);
    const events = ids.flatMap((userId, i) =>
      [i % 10, (i * 7 + 3) % 10].flatMap((k) => [
        { type: 'view', userId, itemId: `i${k}`, ts: ts - 3_600_000 },
        { type: 'click', userId, itemId: `i${k}`, ts: ts - 3_600_000 },
      ]),
    );
    await this.send('events', events);
    return ids;
  }

  async publish(itemId: string, publishedAt: number, ttlSeconds?: number): Promise<void> {
    await this.send('contents', [{ itemId, publishedAt, ...(ttlSeconds ? { ttlSeconds } : {}) }]);
  }

  /** The delivery service's answer: push_sent for each request, push_open where `opened` says so. */
  async deliver(
    requests: readonly PushRequest[],
    opened: (r: PushRequest) => boolean,
    ts: number,
  ): Promise<void> {
    const events = requests.flatMap((r) => [
      { type: 'push_sent', userId: r.userId, itemId: r.itemId, ts, campaignId: r.campaignId },
      ...(opened(r)
        ? [
            {
              type: 'push_open',
              userId: r.userId,
              itemId: r.itemId,
              ts: ts + 1000,
              campaignId: r.campaignId,
            },
          ]
        : []),
    ]);
    if (events.length > 0) await this.send('events', events);
  }
}
