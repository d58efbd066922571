import {
  EMPTY,
  Observable,
  Subject,
  bufferTime,
  catchError,
  concatMap,
  defer,
  filter,
  mergeMap,
  retry,
  tap,
  timer,
  type Subscription,
} from 'rxjs';
import { FreshetError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffMs } from '../retry.ts';
import type { BatchProcessor } from './processor.ts';
import type { ChunkResult, PartitionChunk } from './types.ts';

/** A chunk handed to the pipeline by a source, which waits for its outcome. */
export interface Work {
  chunk: PartitionChunk;
  done(result: ChunkResult): void;
  failed(error: unknown): void;
  /** True once the source no longer owns the chunk's partition: stop retrying it. */
  stale(): boolean;
  /** Keeps the source's session alive while a retry waits. */
  heartbeat(): Promise<void>;
}

const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * Applies up to `concurrency` chunks at once, each as it arrives. Sources hand
 * over one chunk per partition at a time and wait for its outcome, so chunks
 * in flight together belong to different partitions: disjoint users, and item
 * changes that the state store merges. A failing chunk (a store that is down)
 * is retried with capped exponential backoff for as long as its source still
 * owns the partition; the source waits, so nothing queues behind it without
 * bound.
 */
export function applyWork(
  work$: Observable<Work>,
  processor: BatchProcessor,
  logger: Logger,
  concurrency = 1,
): { subscription: Subscription; drained: Promise<void> } {
  let drained!: () => void;
  const done = new Promise<void>((resolve) => {
    drained = resolve;
  });
  const subscription = work$
    .pipe(
      mergeMap((work) =>
        defer(() => processor.process(work.chunk)).pipe(
          retry({
            delay: (error, attempt) => {
              if (work.stale()) throw error;
              const wait = backoffMs(attempt, RETRY_BASE_MS, RETRY_MAX_MS);
              logger.warn({ err: error, attempt, waitMs: wait, topic: work.chunk.topic, partition: work.chunk.partition }, 'batch failed, retrying');
              return defer(() => work.heartbeat()).pipe(concatMap(() => timer(wait)));
            },
          }),
          tap((result) => work.done(result)),
          catchError((error: unknown) => {
            work.failed(error);
            return EMPTY;
          }),
        ),
      concurrency),
    )
    .subscribe({
      complete: () => drained(),
      error: (error) => {
        logger.error({ err: error }, 'pipeline stopped');
        drained();
      },
    });
  return { subscription, drained: done };
}

const FENCED_MESSAGE =
  'events not applied: another engine advanced the stored offset of the HTTP input (run one engine per Redis prefix with HTTP input)';

interface Submission<T> {
  events: T[];
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Events submitted in-process (HTTP in embedded mode, a replayed file), grouped
 * into micro-batches by count and by time, numbered as offsets of one partition.
 */
export class EmbeddedSource<T> {
  readonly topic: string;
  private readonly input = new Subject<Submission<T>>();
  private readonly keyOf: (event: T) => string;
  private nextOffset = 0n;
  private readonly storedOffset: (() => Promise<string | null>) | undefined;
  /** The stored offset is read before the next batch is numbered. */
  private resumeDue: boolean;
  private pending = 0;
  private readonly maxPending: number;
  readonly work$: Observable<Work>;

  constructor(options: {
    topic: string;
    maxEvents: number;
    maxMs: number;
    maxPending: number;
    /** The offset stored with the state for this input's partition 0, where the numbering resumes. */
    storedOffset?: () => Promise<string | null>;
    /** Each message's key, as a producer to Kafka sets it (userId, or itemId for contents). */
    keyOf: (event: T) => string;
  }) {
    this.topic = options.topic;
    this.keyOf = options.keyOf;
    this.maxPending = options.maxPending;
    this.storedOffset = options.storedOffset;
    this.resumeDue = options.storedOffset !== undefined;
    this.work$ = this.input.pipe(
      bufferTime(options.maxMs, null, options.maxEvents),
      filter((batch) => batch.length > 0),
      concatMap((batch) =>
        defer(() => this.resumeIfDue()).pipe(
          // The stored offset could not be read: this batch is refused, and the next one reads again.
          catchError((error: unknown) => {
            this.settle(batch, { error });
            return EMPTY;
          }),
          concatMap(() => this.handOver(batch)),
        ),
      ),
    );
  }

  /** The batch as one chunk of work, its events numbered on from the last. */
  private handOver(batch: Array<Submission<T>>): Observable<Work> {
    return new Observable<Work>((subscriber) => {
      const messages = batch.flatMap((s) =>
        s.events.map((event) => ({
          offset: (this.nextOffset++).toString(),
          key: Buffer.from(this.keyOf(event)),
          value: Buffer.from(JSON.stringify(event)),
        })),
      );
      subscriber.next({
        chunk: { topic: this.topic, partition: 0, messages },
        done: (result) => {
          if (result.nextOffset === null) {
            // Fenced: another engine advanced this input's stored offset and nothing was applied.
            // The next batch is numbered after that offset, or its events would be skipped as replays.
            this.resumeDue = this.storedOffset !== undefined;
            this.settle(batch, { error: new FreshetError('state_fenced', FENCED_MESSAGE, { retryable: true }) });
          } else {
            this.settle(batch);
          }
          subscriber.complete();
        },
        failed: (error) => {
          this.settle(batch, { error });
          subscriber.complete();
        },
        stale: () => false,
        heartbeat: async () => {},
      });
    });
  }

  /** Frees a batch's room in the queue and answers its submitters: done, or refused with `failure.error`. */
  private settle(batch: Array<Submission<T>>, failure?: { error: unknown }): void {
    for (const s of batch) {
      this.pending -= s.events.length;
      if (failure === undefined) s.resolve();
      else s.reject(failure.error);
    }
  }

  /**
   * Before the first batch, and after a fence: numbers the next events from the offset stored
   * with the state when it is ahead (never back). On a durable store it outlives the process,
   * and events numbered from 0 again would carry offsets the store already holds and be skipped
   * as replays.
   */
  private async resumeIfDue(): Promise<void> {
    if (!this.resumeDue || this.storedOffset === undefined) return;
    const stored = await this.storedOffset();
    if (stored !== null && BigInt(stored) > this.nextOffset) this.nextOffset = BigInt(stored);
    this.resumeDue = false;
  }

  /** The bound on queued events. */
  get capacity(): number {
    return this.maxPending;
  }

  /** True when accepting more would exceed the bound on queued events. */
  full(extra: number): boolean {
    return this.pending + extra > this.maxPending;
  }

  /** Resolves once the events are applied and durable in the state store. */
  submit(events: T[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    this.pending += events.length;
    return new Promise((resolve, reject) => this.input.next({ events, resolve, reject }));
  }

  close(): void {
    this.input.complete();
  }
}
