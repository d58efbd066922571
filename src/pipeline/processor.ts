import { itemMinuteCounts } from '../analytics/aggregate.ts';
import { decodeInteraction } from '../events/decode.ts';
import type { InteractionEvent } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { OnlineModel } from '../model/online-mf.ts';
import type { StateStore } from '../state/store.ts';
import { RecentIds } from './dedupe.ts';
import type { ChunkResult, DeadLetter, DeadLetterSink, PartitionChunk } from './types.ts';

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
  /** Awaited before each chunk: holds the pipeline back while a downstream store is behind. */
  beforeChunk?: () => Promise<void>;
}

function nextOf(offset: string): string {
  return (BigInt(offset) + 1n).toString();
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
    await this.options.beforeChunk?.();
    const total: ChunkResult = { nextOffset: null, applied: 0, rejected: 0, skipped: 0 };
    const stored = await this.storedOffset(chunk.topic, chunk.partition);
    const fresh = chunk.messages.filter((m) => stored === null || BigInt(m.offset) >= BigInt(stored));
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

    const { events, letters, duplicates } = this.decode(chunk);
    if (letters.length > 0) {
      await this.options.deadLetters.send(letters);
      metrics.deadLetters.inc(letters.length);
    }

    const loadTimer = metrics.batchSeconds.startTimer({ stage: 'load' });
    const plan = model.plan(events);
    const snapshot = await store.loadSnapshot(plan.userIds, plan.itemIds);
    loadTimer();
    const modelTimer = metrics.batchSeconds.startTimer({ stage: 'model' });
    const effects = events.length > 0 ? model.apply(plan, snapshot) : undefined;
    const rows = this.options.analytics ? itemMinuteCounts(events) : [];
    modelTimer();

    const nextOffset = nextOf(last.offset);
    const commitTimer = metrics.batchSeconds.startTimer({ stage: 'commit' });
    const committed = await store.commit({
      partition: key,
      expectedOffset: this.cursors.get(key) ?? null,
      nextOffset,
      effects,
      analytics:
        rows.length > 0 ? { batchId: `${chunk.topic}/${chunk.partition}/${first.offset}-${last.offset}`, rows } : undefined,
    });
    commitTimer();
    if (!committed) {
      metrics.commitsFenced.inc();
      logger.warn({ partition: key, offset: first.offset }, 'batch fenced: another owner advanced the partition');
      this.cursors.delete(key);
      return { nextOffset: null, applied: 0, rejected: letters.length, skipped: duplicates };
    }

    this.cursors.set(key, nextOffset);
    this.recent.addAll(events.flatMap((e) => (e.eventId === undefined ? [] : [e.eventId])));
    for (const event of events) metrics.eventsConsumed.inc({ type: event.type });
    metrics.batchEvents.observe(events.length);
    if (effects !== undefined) metrics.eventLagSeconds.set((this.now() - effects.clock) / 1000);
    return { nextOffset, applied: events.length, rejected: letters.length, skipped: duplicates };
  }

  private decode(chunk: PartitionChunk) {
    const events: InteractionEvent[] = [];
    const letters: DeadLetter[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    const horizon = this.now() + this.options.maxFutureMs;

    for (const message of chunk.messages) {
      const result = decodeInteraction(message.value);
      let rejection: { field: string; reason: string } | undefined;
      if (!result.ok) rejection = result;
      else if (result.value.ts > horizon) {
        rejection = { field: 'ts', reason: `ts is more than ${this.options.maxFutureMs} ms ahead of the clock` };
      }
      if (rejection !== undefined) {
        this.options.metrics.eventsRejected.inc({ field: rejection.field });
        letters.push({
          topic: chunk.topic,
          partition: chunk.partition,
          offset: message.offset,
          key: message.key,
          value: message.value,
          ...rejection,
        });
        continue;
      }
      const event = (result as { value: InteractionEvent }).value;
      if (event.eventId !== undefined) {
        if (seen.has(event.eventId) || this.recent.has(event.eventId)) {
          duplicates++;
          this.options.metrics.eventsSkipped.inc({ reason: 'duplicate' });
          continue;
        }
        seen.add(event.eventId);
      }
      events.push(event);
    }
    return { events, letters, duplicates };
  }
}
