import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BatchProcessor } from '../../src/pipeline/processor.ts';
import { KafkaIngest } from '../../src/sources/kafka.ts';
import type { Lane } from '../../src/sources/lane.ts';
import type { Work } from '../../src/pipeline/stream.ts';
import type { Observable } from 'rxjs';

/** The private parts these tests pin; nothing here connects to a broker. */
interface Internals {
  running: boolean;
  givenUp(err: unknown, topic: string, partition: number): undefined;
  throwRejoin(): void;
  lane(topic: string, partition: number): Lane<unknown>;
  work$: Observable<Work>;
  crashed(error: Error, restarting: boolean): void;
  consume(): Promise<void>;
  commitSoon(topic: string, partition: number, offset: string): void;
  stop(): Promise<void>;
  consumer: {
    commitOffsets(offsets: unknown[]): Promise<void>;
    disconnect(): Promise<void>;
    seek(target: unknown): void;
    connect(): Promise<void>;
    subscribe(options: unknown): Promise<void>;
    run(options: { eachBatch(payload: unknown): Promise<void> }): Promise<void>;
  };
  producer: { disconnect(): Promise<void> };
}

function ingest(): Internals {
  const source = new KafkaIngest({
    brokers: ['127.0.0.1:1'],
    clientId: 'test',
    groupId: 'g',
    eventsTopic: 'events',
    contentsTopic: 'contents',
    deadLetterTopic: 'events.dlq',
    partitions: 1,
    maxEvents: 10,
    processor: {} as BatchProcessor,
    logger: pino({ level: 'silent' }),
  });
  source.work$.subscribe();
  const internals = source as unknown as Internals;
  // Nothing here connects, so nothing needs closing when a test stops the source.
  internals.consumer.disconnect = async () => {};
  internals.producer.disconnect = async () => {};
  return internals;
}

/** A chunk of `count` messages of partition 0 from offset `first`, as a lane queues it. */
function queuedChunk(first: number, count: number, highWatermark: number) {
  return {
    chunk: {
      topic: 'events',
      partition: 0,
      messages: Array.from({ length: count }, (_, i) => ({ offset: String(first + i), key: null, value: null })),
    },
    highWatermark: String(highWatermark),
    stale: () => false,
    heartbeat: async () => {},
  };
}

function kafkaError(type: string, retriable: boolean): Error {
  return Object.assign(new Error(type), { type, retriable });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('kafka ingest', () => {
  // Regression: a chunk the pipeline gave up (stale after a rebalance) rejected eachBatch with
  // its own error; a non-retriable one (MESSAGE_TOO_LARGE from the dead-letter producer)
  // stopped the kafkajs consumer for good while the process lived on.
  it('should leave a given-up chunk to be fetched again instead of failing the consumer', () => {
    const source = ingest();
    expect(source.givenUp(kafkaError('MESSAGE_TOO_LARGE', false), 'events', 0)).toBeUndefined();
    expect(source.givenUp(new Error('connect ECONNREFUSED'), 'events', 0)).toBeUndefined();
  });

  it('should hand group errors back to kafkajs, from its next batch, so that it re-joins', () => {
    const source = ingest();
    const rebalance = kafkaError('REBALANCE_IN_PROGRESS', true);
    expect(source.givenUp(rebalance, 'events', 0)).toBeUndefined();
    expect(() => source.throwRejoin()).toThrow(rebalance);
    // Once only: kafkajs re-joins after it.
    expect(() => source.throwRejoin()).not.toThrow();
    source.givenUp(kafkaError('UNKNOWN_MEMBER_ID', true), 'events', 0);
    expect(() => source.throwRejoin()).toThrow('UNKNOWN_MEMBER_ID');
    source.givenUp(kafkaError('MESSAGE_TOO_LARGE', false), 'events', 0);
    expect(() => source.throwRejoin()).not.toThrow();
  });

  it('should restart a consumer that kafkajs stopped for good, and leave restarts to kafkajs otherwise', async () => {
    vi.useFakeTimers();
    const source = ingest();
    source.running = true;
    let runs = 0;
    source.consume = async () => {
      runs++;
    };
    source.crashed(kafkaError('INVALID_TOPIC_EXCEPTION', false), true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(0);

    source.crashed(kafkaError('INVALID_TOPIC_EXCEPTION', false), false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(1);
  });

  it('should not restart the consumer once stopping', async () => {
    vi.useFakeTimers();
    const source = ingest();
    source.running = false;
    let runs = 0;
    source.consume = async () => {
      runs++;
    };
    source.crashed(kafkaError('INVALID_TOPIC_EXCEPTION', false), false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(0);
  });

  // The next fetch waits for every batch of the last one, so a batch no longer waits for its
  // Kafka offset commit; the commits of a partition still go one at a time, in order.
  it('should commit offsets one at a time per partition, the latest after the one in flight, and stop only once they are done', async () => {
    const source = ingest();
    source.running = true;
    const calls: string[] = [];
    const releases: Array<() => void> = [];
    source.consumer.commitOffsets = (offsets) => {
      const [o] = offsets as Array<{ partition: number; offset: string }>;
      calls.push(`${o?.partition}:${o?.offset}`);
      return new Promise((resolve) => releases.push(resolve));
    };

    source.commitSoon('events', 0, '5');
    source.commitSoon('events', 0, '9');
    source.commitSoon('events', 1, '3');
    source.commitSoon('events', 0, '12');
    expect(calls).toEqual(['0:5', '1:3']);

    let stopped = false;
    const stopping = source.stop().then(() => {
      stopped = true;
    });
    releases.shift()?.();
    releases.shift()?.();
    await vi.waitFor(() => expect(calls).toEqual(['0:5', '1:3', '0:12']));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(stopped).toBe(false);
    releases.shift()?.();
    await stopping;
    expect(stopped).toBe(true);
    expect(calls).toEqual(['0:5', '1:3', '0:12']);
  });

  it('should start the next commit of a partition no sooner than 100 ms after the last one started, and not hold other partitions', async () => {
    const source = ingest();
    source.running = true;
    const calls: string[] = [];
    source.consumer.commitOffsets = async (offsets) => {
      const [o] = offsets as Array<{ partition: number; offset: string }>;
      calls.push(`${o?.partition}:${o?.offset}`);
    };

    const started = performance.now();
    source.commitSoon('events', 0, '1');
    await new Promise((resolve) => setTimeout(resolve, 10));
    source.commitSoon('events', 0, '2');
    source.commitSoon('events', 0, '3');
    source.commitSoon('events', 1, '7');
    expect(calls).toEqual(['0:1', '1:7']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toEqual(['0:1', '1:7']);
    await vi.waitFor(() => expect(calls).toEqual(['0:1', '1:7', '0:3']));
    expect(performance.now() - started).toBeGreaterThanOrEqual(99);
    await source.stop();
  });

  // The next chunk of a partition is fetched while the last is applied; one that is not applied
  // must not be followed by the next, or the partition would have a gap.
  it('should fetch a partition again from a chunk that was not applied, and apply none queued behind it', async () => {
    const source = ingest();
    source.running = true;
    const seeks: unknown[] = [];
    const commits: unknown[] = [];
    source.consumer.seek = (target) => seeks.push(target);
    source.consumer.commitOffsets = async (offsets) => {
      commits.push(...offsets);
    };
    const handed: string[] = [];
    const outcomes = [null, '4', '6'];
    source.work$.subscribe((work) => {
      handed.push(work.chunk.messages[0]?.offset ?? '');
      const next = outcomes.shift() ?? null;
      setTimeout(() => work.done({ nextOffset: next, applied: 2, rejected: 0, skipped: 0 }), 5);
    });
    const queued = (first: number) => queuedChunk(first, 2, 10);
    const lane = source.lane('events', 0);
    const epoch = lane.epoch;
    expect(await lane.offer(queued(0), epoch)).toBe(true);
    expect(await lane.offer(queued(2), epoch)).toBe(true);
    // Waits for room, and is refused once the first chunk is fenced.
    expect(await lane.offer(queued(4), epoch)).toBe(false);
    await lane.idle();
    expect(handed).toEqual(['0']);
    expect(seeks).toEqual([{ topic: 'events', partition: 0, offset: '0' }]);
    expect(commits).toEqual([]);

    // Fetched again from there: applied in order, each offset committed once its state is stored.
    expect(await lane.offer(queued(2), lane.epoch)).toBe(true);
    expect(await lane.offer(queued(4), lane.epoch)).toBe(true);
    await lane.idle();
    expect(handed).toEqual(['0', '2', '4']);
    await vi.waitFor(() => expect(commits.at(-1)).toEqual({ topic: 'events', partition: 0, offset: '6' }));
    expect(seeks).toHaveLength(1);
    await source.stop();
  });

  // A backlog is fetched again while its last chunk is applied; a partition that has caught up
  // waits, so that what arrives meanwhile comes as one batch rather than many small ones.
  it('should return a batch to kafkajs once its last chunk is being applied when the partition is behind, and only once applied when caught up', async () => {
    const source = ingest();
    source.running = true;
    let eachBatch: ((payload: unknown) => Promise<void>) | undefined;
    source.consumer.connect = async () => {};
    source.consumer.subscribe = async () => {};
    source.consumer.commitOffsets = async () => {};
    source.consumer.run = async (options) => {
      eachBatch = options.eachBatch;
    };
    await source.consume();
    const pending: Array<() => void> = [];
    source.work$.subscribe((work) => {
      const next = String(Number(work.chunk.messages.at(-1)?.offset) + 1);
      pending.push(() => work.done({ nextOffset: next, applied: 1, rejected: 0, skipped: 0 }));
    });
    const batch = (first: number, count: number, highWatermark: number) => ({
      batch: {
        topic: 'events',
        partition: 0,
        highWatermark: String(highWatermark),
        messages: queuedChunk(first, count, highWatermark).chunk.messages,
        firstOffset: () => String(first),
      },
      resolveOffset: () => {},
      heartbeat: async () => {},
      isRunning: () => true,
      isStale: () => false,
    });
    let returned = false;
    // maxEvents is 10: 15 messages with 100 more behind them is a backlog, in two chunks. The
    // next fetch waits until the second is the one being applied, not for it to be applied.
    const behind = eachBatch?.(batch(0, 15, 115)).then(() => (returned = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(returned).toBe(false);
    expect(pending).toHaveLength(1);
    pending.shift()?.();
    await behind;
    expect(returned).toBe(true);
    expect(pending).toHaveLength(1);

    // Caught up: 5 messages ending at the partition's end.
    returned = false;
    const caughtUp = eachBatch?.(batch(15, 5, 20)).then(() => (returned = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(returned).toBe(false);
    pending.shift()?.();
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    expect(returned).toBe(false);
    pending.shift()?.();
    await caughtUp;
    expect(returned).toBe(true);
    await source.stop();
  });

  it('should stop only once a chunk being applied and the Kafka commit it then starts are done', async () => {
    const source = ingest();
    source.running = true;
    const committed: unknown[] = [];
    source.consumer.commitOffsets = async (offsets) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      committed.push(...offsets);
    };
    source.work$.subscribe((work) => {
      setTimeout(() => work.done({ nextOffset: '2', applied: 2, rejected: 0, skipped: 0 }), 20);
    });
    const lane = source.lane('events', 0);
    await lane.offer(queuedChunk(0, 2, 2));
    await source.stop();
    expect(committed).toEqual([{ topic: 'events', partition: 0, offset: '2' }]);
  });
});
