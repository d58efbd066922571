import type { ItemMinuteRow } from '../analytics/aggregate.ts';
import type { ContentEvent } from '../events/schema.ts';
import type { BatchEffects, StateSnapshot } from '../model/online-mf.ts';
import type { ItemRecord, UserRecord } from '../model/records.ts';
import type { Scored } from '../model/topk.ts';
import type { UserDayRow } from '../push/activity.ts';
import type { PushTally } from '../push/tally.ts';

/** Aggregates of one batch, waiting to be written to the analytics store. */
export interface AnalyticsBatch {
  /** Identity of the source range, e.g. "events/3/1200-1699"; the analytics store deduplicates on it. */
  batchId: string;
  rows: ItemMinuteRow[];
  /** Daily activity per user (src/push/activity.ts), for the weekly active users report. */
  users?: UserDayRow[];
}

/** The rows a batch adds to the analytics store, item and user rows together. */
export function analyticsRows(batch: AnalyticsBatch): number {
  return batch.rows.length + (batch.users?.length ?? 0);
}

/**
 * The outbox batches of one analytics write, gathered in the order read: at most `limit`, and
 * while their rows together stay within `maxRows`. A first batch holding more is taken alone: a
 * batch is written whole, as its id is what the analytics store deduplicates on.
 */
export class AnalyticsWrite {
  readonly batches: AnalyticsBatch[] = [];
  private rows = 0;
  private readonly limit: number;
  private readonly maxRows: number;

  constructor(limit: number, maxRows: number) {
    this.limit = limit;
    this.maxRows = maxRows;
  }

  /** Rows the write can still take (Infinity without a row bound). */
  get rowsLeft(): number {
    return this.maxRows - this.rows;
  }

  /** Takes the next batch read, if it fits; true when the write then has room for more. */
  take(batch: AnalyticsBatch): boolean {
    const rows = analyticsRows(batch);
    if (this.batches.length >= this.limit || (this.batches.length > 0 && this.rows + rows > this.maxRows)) return false;
    this.batches.push(batch);
    this.rows += rows;
    return this.batches.length < this.limit && this.rows < this.maxRows;
  }
}

/** All that one batch changes, written atomically together with its partition's next offset. */
export interface BatchCommit {
  /** The input partition the batch came from, e.g. "freshet/events/3" (group/topic/partition). */
  partition: string;
  /**
   * The offset the store must hold for the partition, or null when none is stored.
   * A mismatch means another owner advanced it: the commit is refused (fenced).
   */
  expectedOffset: string | null;
  nextOffset: string;
  effects: BatchEffects | undefined;
  analytics: AnalyticsBatch | undefined;
  /** Content-published events: item metadata, kept whole (the latest publication wins). */
  contents?: readonly ContentEvent[];
  /** Push counters of the batch (src/push/tally.ts): sends and opens per user, openers, activity. */
  push?: PushTally;
  /**
   * The snapshot the effects were computed from, as loadSnapshot returned it. A store may then
   * write a user's value whole, without reading and merging it again, while what it stores is
   * still what was read.
   */
  read?: StateSnapshot;
  /**
   * Wall time (ms) the batch's state was read at, as given to loadSnapshot: the commit judges
   * which of the batch's items had expired by the same time, so that both agree. Absent: now.
   */
  readAt?: number;
}

export interface ItemCounts {
  views: number;
  clicks: number;
}

/** Items changed since a sequence number, for incremental in-process indexes. */
export interface ItemChanges {
  seq: number;
  /** Id, record, and the wall-clock time it was written, ms (its change sequence). */
  items: Array<[id: string, record: ItemRecord, writtenAt: number]>;
}

/**
 * Model state, counters, seen-sets and offsets. Two implementations, one
 * contract (test/contract/state-store.ts): in-process memory and Redis.
 */
export interface StateStore {
  readonly kind: 'memory' | 'redis';
  readOffset(partition: string): Promise<string | null>;
  /**
   * The stored records of these users and items. An item not written for the item TTL before
   * `readAt` (wall time, ms; default now) has expired and is left out.
   */
  loadSnapshot(userIds: readonly string[], itemIds: readonly string[], readAt?: number): Promise<StateSnapshot>;
  /** Applies the batch and the offset in one transaction; false when fenced. */
  commit(batch: BatchCommit): Promise<boolean>;

  getUser(userId: string): Promise<UserRecord | undefined>;
  getItem(itemId: string): Promise<ItemRecord | undefined>;
  getItemCounts(itemId: string): Promise<ItemCounts>;
  /**
   * The items the user clicked, latest click first (by event time; on a tie, the higher id
   * first), at most the store's cap (CLICKED_MAX_ITEMS): older clicks are forgotten.
   */
  getClicked(userId: string): Promise<string[]>;
  getContent(itemId: string): Promise<ContentEvent | undefined>;
  /** Content events of several items, in the order asked; undefined where none is stored. */
  getContents(itemIds: readonly string[]): Promise<Array<ContentEvent | undefined>>;
  /**
   * Content published at or after `sinceMs` and, with `untilMs`, at or before it (event time),
   * newest first, at most `limit`.
   */
  freshContent(sinceMs: number, limit: number, untilMs?: number): Promise<ContentEvent[]>;
  /** Highest trending scores first. */
  trending(k: number): Promise<Scored[]>;
  /**
   * Latest event time applied (ms), 0 before any: a watermark over all partitions. An event
   * may push it ahead of the wall clock by at most MAX_EVENT_FUTURE_MS (later ones are
   * dead-lettered); user and item records keep their own times, so such an event moves no
   * other user's or item's clock (test/support/chaos-time.ts).
   */
  clock(): Promise<number>;
  itemsChangedSince(seq: number): Promise<ItemChanges>;

  /**
   * Analytics batches not yet acknowledged, for one write: at most `limit`, and while their rows
   * (item and user rows together) stay within `maxRows`, or a first batch alone that holds more
   * (see AnalyticsWrite).
   */
  pendingAnalytics(limit: number, maxRows?: number): Promise<AnalyticsBatch[]>;
  pendingAnalyticsCount(): Promise<number>;
  ackAnalytics(batchIds: readonly string[]): Promise<void>;

  /**
   * Removes at most `limit` expired entries (not written for USER_TTL_MS or ITEM_TTL_MS) that
   * no commit has removed yet, oldest first; resolves with how many. Commits sweep as they
   * write; the engine calls this on a timer, for when the input goes quiet.
   */
  sweepExpired(limit?: number): Promise<number>;

  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Clicked items as [id, click time], latest first; on a tie the higher id first by its UTF-8 bytes. */
export function newestFirst(a: readonly [string, number], b: readonly [string, number]): number {
  return b[1] - a[1] || Buffer.compare(Buffer.from(b[0]), Buffer.from(a[0]));
}

/**
 * Throws unless the batch writes every user it records clicks of: a user's clicked items are
 * kept with its record (in one value in Redis), so a click needs the record written with it.
 */
export function checkClickers(effects: BatchEffects | undefined): void {
  for (const user of effects?.clicked.keys() ?? []) {
    if (!effects?.users.has(user)) throw new Error(`a batch records clicks of user ${JSON.stringify(user)} but does not write the user`);
  }
}

/** Clicked items remembered per user when the store is given no cap. */
export const CLICKED_MAX_ITEMS = 500;

/** Keep at most this many items in the trending set. */
export const TRENDING_CAP = 10_000;
