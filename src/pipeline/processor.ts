import { itemMinuteCounts } from '../analytics/aggregate.ts';
import { decodeContent, decodeInteraction } from '../events/decode.ts';
import { tooFarAhead, type ContentEvent, type InteractionEvent, type Rejection } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import { timeStage, type Metrics } from '../metrics.ts';
import type { OnlineModel } from '../model/online-mf.ts';
import { analyticsBatch } from '../push/activity.ts';
import { pushTally } from '../push/tally.ts';
import type { BatchCommit, StateStore } from '../state/store.ts';
import { BatchIds, RecentIds } from './dedupe.ts';
import type { ChunkResult, DeadLetter, DeadLetterSink, PartitionChunk, SourceMessage } from './types.ts';

export interface ProcessorOptions {
  store: StateStore;
  model: OnlineModel;
  deadLetters: DeadLetterSink;
  metrics: Metrics;
  logger: Logger;
  /** Consumer group; offsets are stored per group, topic and partition. */
  group: string;
  /** Most messages applied in one state transaction. */
  maxEvents: number;
  /** Write per-item, per-minute aggregates to the analytics outbox. */
  analytics: boolean;
  /** Events further ahead of the wall clock than this are rejected (ms). */
  maxFutureMs: number;
  /** Wall clock, injectable for tests. */
  now?: () => number;
  /** Event ids remembered for de-duplication. */
  dedupeCapacity?: number;
  /** Topic of content-published events; its messages are decoded as content, not interactions. */
  contentsTopic?: string;
  /**
   * Awaited before each chunk: holds the pipeline back while a downstream store is behind. What
   * it resolves with is called once the chunk is done, applied or not.
   */
  beforeChunk?: () => Promise<(() => void) | void>;
  /** Awaited while a batch's state loads, before it is applied (the prequential quality sample). */
  beforeApply?: (events: readonly InteractionEvent[]) => Promise<void>;
  /**
   * Called with a batch's applied events once they are durable, before the
   * chunk's outcome goes back to its source. It must not throw: the batch is
   * committed whatever it does.
   */
  afterCommit?: (events: readonly InteractionEvent[]) => void;
}

function nextOf(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

/**
 * a >= b for offsets in decimal without leading zeros (as Kafka and the stores write them),
 * without parsing: a longer one is larger, and of equal length they compare as text.
 */
export function offsetAtLeast(a: string, b: string): boolean {
  return a.length === b.length ? a >= b : a.length > b.length;
}

/**
 * Applies chunks of one partition at a time: decode and validate, send the
 * rejects to the dead-letter sink, then apply the valid events and advance the
 * partition's offset in one state transaction. A chunk whose offsets are
 * already stored is skipped, so a replay after a crash applies nothing twice.
 */
export class BatchProcessor {
  private readonly options: ProcessorOptions;
  private readonly cursors = new Map<string, string | null>();
  private readonly recent: RecentIds;
  /** The ids of the batch being decoded. */
  private readonly batchIds = new BatchIds();
  private readonly now: () => number;

  constructor(options: ProcessorOptions) {
    this.options = options;
    this.recent = new RecentIds(options.dedupeCapacity ?? 100_000);
    this.now = options.now ?? Date.now;
  }

  partitionKey(topic: string, partition: number): string {
    return `${this.options.group}/${topic}/${partition}`;
  }

  /** Forgets what this process believes about partitions; the store is read again. */
  forgetCursors(): void {
    this.cursors.clear();
  }

  async storedOffset(topic: string, partition: number): Promise<string | null> {
    const key = this.partitionKey(topic, partition);
    if (!this.cursors.has(key)) this.cursors.set(key, await this.options.store.readOffset(key));
    return this.cursors.get(key) ?? null;
  }

  async process(chunk: PartitionChunk): Promise<ChunkResult> {
    const done = await this.options.beforeChunk?.();
    try {
      return await this.processChunk(chunk);
    } finally {
      done?.();
    }
  }

  private async processChunk(chunk: PartitionChunk): Promise<ChunkResult> {
    const total: ChunkResult = { nextOffset: null, applied: 0, rejected: 0, skipped: 0 };
    const stored = await this.storedOffset(chunk.topic, chunk.partition);
    const fresh = stored === null ? chunk.messages : chunk.messages.filter((m) => offsetAtLeast(m.offset, stored));
    total.skipped = chunk.messages.length - fresh.length;
    if (total.skipped > 0) this.options.metrics.eventsSkipped.inc({ reason: 'offset' }, total.skipped);
    total.nextOffset = stored;

    for (let i = 0; i < fresh.length; i += this.options.maxEvents) {
      const part = await this.applyMessages({ ...chunk, messages: fresh.slice(i, i + this.options.maxEvents) });
      if (part.nextOffset === null) return { ...total, nextOffset: null };
      total.nextOffset = part.nextOffset;
      total.applied += part.applied;
      total.rejected += part.rejected;
      total.skipped += part.skipped;
    }
    return total;
  }

  private async applyMessages(chunk: PartitionChunk): Promise<ChunkResult> {
    const { store, model, metrics, logger } = this.options;
    const key = this.partitionKey(chunk.topic, chunk.partition);
    const first = chunk.messages[0];
    const last = chunk.messages[chunk.messages.length - 1];
    if (first === undefined || last === undefined) {
      return { nextOffset: this.cursors.get(key) ?? null, applied: 0, rejected: 0, skipped: 0 };
    }

    if (chunk.topic === this.options.contentsTopic) return this.applyContents(chunk, key, last.offset);

    const { events, letters, duplicates } = this.decode(chunk);
    await this.sendDeadLetters(letters);

    const plan = model.plan(events);
    const readAt = this.now();
    const [snapshot] = await Promise.all([
      timeStage(metrics, 'load', () => store.loadSnapshot(plan.userIds, plan.itemIds, readAt)),
      this.options.beforeApply?.(events),
    ]);
    const { effects, rows } = await timeStage(metrics, 'model', () => ({
      effects: events.length > 0 ? model.apply(plan, snapshot) : undefined,
      rows: this.options.analytics ? itemMinuteCounts(events) : [],
    }));

    const batchId = `${chunk.topic}/${chunk.partition}/${first.offset}-${last.offset}`;
    const nextOffset = await this.commit(key, last.offset, {
      readAt,
      read: snapshot,
      effects,
      analytics: analyticsBatch(batchId, rows, this.options.analytics ? events : []),
      push: pushTally(events),
    });
    if (nextOffset === null) {
      const { topic, partition } = chunk;
      const offset = first.offset;
      logger.warn({ topic, partition, offset }, 'batch fenced: another owner advanced the partition');
      return { nextOffset, applied: 0, rejected: letters.length, skipped: duplicates };
    }

    for (const event of events) if (event.eventId !== undefined) this.recent.add(event.eventId);
    if (events.length > 0) this.options.afterCommit?.(events);
    // One increment per type, not per event: each labelled increment hashes its labels.
    const perType = new Map<string, number>();
    for (const event of events) perType.set(event.type, (perType.get(event.type) ?? 0) + 1);
    for (const [type, count] of perType) metrics.eventsConsumed.inc({ type }, count);
    metrics.batchEvents.observe(events.length);
    if (effects !== undefined) metrics.eventLagSeconds.set((this.now() - effects.clock) / 1000);
    return { nextOffset, applied: events.length, rejected: letters.length, skipped: duplicates };
  }

  /** Content events: item metadata stored with the partition's offset, bad ones dead-lettered. */
  private async applyContents(chunk: PartitionChunk, key: string, lastOffset: string): Promise<ChunkResult> {
    const contents: ContentEvent[] = [];
    const letters: DeadLetter[] = [];
    const now = this.now();
    for (const message of chunk.messages) {
      const result = decodeContent(message.value);
      // A content dated ahead would rank first among the fresh ones until its time came.
      const rejection = result.ok ? tooFarAhead(result.value.publishedAt, now, this.options.maxFutureMs, 'publishedAt') : result;
      if (rejection === undefined) contents.push((result as { value: ContentEvent }).value);
      else letters.push(this.deadLetter(chunk, message, rejection));
    }
    await this.sendDeadLetters(letters);
    const nextOffset = await this.commit(key, lastOffset, { effects: undefined, analytics: undefined, contents });
    return { nextOffset, applied: nextOffset === null ? 0 : contents.length, rejected: letters.length, skipped: 0 };
  }

  /**
   * Writes a batch fenced on the offset this process believes is stored; the
   * next offset, or null when another owner advanced the partition.
   */
  private async commit(
    key: string,
    lastOffset: string,
    batch: Pick<BatchCommit, 'effects' | 'analytics' | 'contents' | 'push' | 'readAt' | 'read'>,
  ): Promise<string | null> {
    const nextOffset = nextOf(lastOffset);
    const expectedOffset = this.cursors.get(key) ?? null;
    const committed = await timeStage(this.options.metrics, 'commit', () =>
      this.options.store.commit({ partition: key, expectedOffset, nextOffset, ...batch }),
    );
    if (!committed) {
      this.options.metrics.commitsFenced.inc();
      this.cursors.delete(key);
      return null;
    }
    this.cursors.set(key, nextOffset);
    return nextOffset;
  }

  private deadLetter(chunk: PartitionChunk, message: SourceMessage, rejection: Rejection): DeadLetter {
    this.options.metrics.eventsRejected.inc({ field: rejection.field });
    return {
      topic: chunk.topic,
      partition: chunk.partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      field: rejection.field,
      reason: rejection.reason,
    };
  }

  private async sendDeadLetters(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const { metrics, deadLetters } = this.options;
    await timeStage(metrics, 'dead_letter', () => deadLetters.send(letters));
    metrics.deadLetters.inc(letters.length);
  }

  private decode(chunk: PartitionChunk) {
    const events: InteractionEvent[] = [];
    const letters: DeadLetter[] = [];
    const seen = this.batchIds;
    seen.clear();
    let duplicates = 0;
    const now = this.now();

    for (const message of chunk.messages) {
      const result = decodeInteraction(message.value);
      const rejection: Rejection | undefined = result.ok ? tooFarAhead(result.value.ts, now, this.options.maxFutureMs) : result;
      if (rejection !== undefined) {
        letters.push(this.deadLetter(chunk, message, rejection));
        continue;
      }
      const event = (result as { value: InteractionEvent }).value;
      if (event.eventId !== undefined) {
        if (!seen.add(event.eventId) || this.recent.has(event.eventId)) {
          duplicates++;
          this.options.metrics.eventsSkipped.inc({ reason: 'duplicate' });
          continue;
        }
      }
      events.push(event);
    }
    return { events, letters, duplicates };
  }
}
