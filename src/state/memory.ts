import type { ContentEvent } from '../events/schema.ts';
import type { StateSnapshot } from '../model/online-mf.ts';
import { committedItem, movesTrending, trendingScore } from '../model/item-merge.ts';
import type { ItemRecord, UserRecord } from '../model/records.ts';
import type { Scored } from '../model/topk.ts';
import { MemoryPushLedger } from '../push/ledger.ts';
import type { PushTally } from '../push/tally.ts';
import {
  AnalyticsWrite,
  checkClickers,
  CLICKED_MAX_ITEMS,
  newestFirst,
  TRENDING_CAP,
  type AnalyticsBatch,
  type BatchCommit,
  type ItemChanges,
  type ItemCounts,
  type StateStore,
} from './store.ts';
import { SWEEP_LIMIT } from './sweep.ts';

function copyUser(r: UserRecord): UserRecord {
  return { ...r, vec: r.vec.slice() };
}

function copyItem(r: ItemRecord): ItemRecord {
  return { ...r, vec: r.vec.slice() };
}

/** Keys in the order of their last write (ms), so that the expired ones come first. */
class WriteTimes {
  private readonly at = new Map<string, number>();

  /** `at` must not be before any earlier write's, or the order breaks. */
  write(key: string, at: number): void {
    this.at.delete(key);
    this.at.set(key, at);
  }

  /** Whether `key` was written within `ttlMs` before `now` (or never: untracked keys live). */
  alive(key: string, ttlMs: number, now: number): boolean {
    return ttlMs <= 0 || (this.at.get(key) ?? now) >= now - ttlMs;
  }

  entries(): IterableIterator<[string, number]> {
    return this.at.entries();
  }

  delete(key: string): void {
    this.at.delete(key);
  }

  /** Forgets and returns at most `limit` keys last written before `before`, oldest first. */
  expire(before: number, limit: number): string[] {
    const gone: string[] = [];
    for (const [key, at] of this.at) {
      if (at >= before || gone.length >= limit) break;
      gone.push(key);
    }
    for (const key of gone) this.at.delete(key);
    return gone;
  }
}

export interface MemoryStateOptions {
  /** Clicked items kept per user. */
  clickedMax?: number;
  /**
   * A user (record, clicked items, push counters) or an item (record, totals, trending score,
   * content) not written for this long expires, ms; 0 keeps it. As in Redis: USER_TTL_MS and
   * ITEM_TTL_MS.
   */
  ttl?: { userMs: number; itemMs: number };
  /** Wall clock, ms. */
  now?: () => number;
}

/**
 * In-process state for the embedded mode and for tests. Lost when the process ends.
 *
 * Expired entries are removed by each commit (at most SWEEP_LIMIT of each kind) and by
 * `sweepExpired`, which the engine calls on a timer while the input is quiet; reads never
 * return an expired entry, swept or not.
 */
export class MemoryStateStore implements StateStore {
  readonly kind = 'memory' as const;
  private readonly offsets = new Map<string, string>();
  private readonly users = new Map<string, UserRecord>();
  private readonly items = new Map<string, ItemRecord>();
  private readonly counts = new Map<string, ItemCounts>();
  /** Per user: item -> latest click time (ms), at most `clickedMax` items. */
  private readonly clicked = new Map<string, Map<string, number>>();
  private readonly trend = new Map<string, number>();
  /** Each item's change sequence: the wall time it was last written, ms, kept increasing. */
  private readonly itemSeq = new WriteTimes();
  private readonly outbox = new Map<string, AnalyticsBatch>();
  private readonly contents = new Map<string, ContentEvent>();
  /** Push counters, read by the push loop's in-process store. */
  readonly push = new MemoryPushLedger((id) => this.pushAlive(id));
  private readonly clickedMax: number;
  private readonly ttl: { userMs: number; itemMs: number };
  private readonly now: () => number;
  /** Last write of each user's record and clicked items (one value in Redis), with a user TTL. */
  private readonly userWrites = new WriteTimes();
  /** Last write of each user's push counters, with a user TTL. */
  private readonly pushWrites = new WriteTimes();
  /** Last write of each item's content, with an item TTL. */
  private readonly contentWrites = new WriteTimes();
  private seq = 0;
  private latest = 0;
  private wall = 0;

  constructor(options: MemoryStateOptions = {}) {
    this.clickedMax = options.clickedMax ?? CLICKED_MAX_ITEMS;
    this.ttl = options.ttl ?? { userMs: 0, itemMs: 0 };
    this.now = options.now ?? Date.now;
  }

  /** The wall clock, never stepping back: write times keep their order. */
  private wallNow(): number {
    this.wall = Math.max(this.wall, this.now());
    return this.wall;
  }

  private userAlive(id: string, at = this.now()): boolean {
    return this.userWrites.alive(id, this.ttl.userMs, at);
  }

  private itemAlive(id: string, at = this.now()): boolean {
    return this.itemSeq.alive(id, this.ttl.itemMs, at);
  }

  private pushAlive(id: string, at = this.now()): boolean {
    return this.pushWrites.alive(id, this.ttl.userMs, at);
  }

  private contentAlive(id: string, at = this.now()): boolean {
    return this.contentWrites.alive(id, this.ttl.itemMs, at);
  }

  async readOffset(partition: string): Promise<string | null> {
    return this.offsets.get(partition) ?? null;
  }

  async loadSnapshot(userIds: readonly string[], itemIds: readonly string[], readAt = this.now()): Promise<StateSnapshot> {
    const users = new Map<string, UserRecord>();
    const items = new Map<string, ItemRecord>();
    const now = this.now();
    for (const id of userIds) {
      const r = this.users.get(id);
      if (r !== undefined && this.userAlive(id, now)) users.set(id, copyUser(r));
    }
    for (const id of itemIds) {
      const r = this.items.get(id);
      if (r !== undefined && this.itemAlive(id, readAt)) items.set(id, copyItem(r));
    }
    return { users, items };
  }

  async commit(batch: BatchCommit): Promise<boolean> {
    checkClickers(batch.effects);
    if ((this.offsets.get(batch.partition) ?? null) !== batch.expectedOffset) return false;
    this.offsets.set(batch.partition, batch.nextOffset);

    const now = this.wallNow();
    const effects = batch.effects;
    if (effects !== undefined) {
      this.latest = Math.max(this.latest, effects.clock);
      for (const [id, r] of effects.users) {
        // An expired user's value is gone in Redis: its clicked items start again too.
        if (!this.userAlive(id, now)) this.forgetUser(id);
        this.users.set(id, copyUser(r));
        if (this.ttl.userMs > 0) this.userWrites.write(id, now);
      }
      // The change sequence is the write time in ms, kept increasing, as in Redis.
      if (effects.items.size > 0) this.seq = Math.max(this.seq + 1, now);
      // An item not written for the item TTL before the batch was read starts again from nothing.
      const readAt = batch.readAt ?? this.seq;
      for (const id of effects.items.keys()) {
        if (!this.itemAlive(id, readAt)) this.forgetItem(id);
        const merged = committedItem(this.items.get(id), id, effects);
        this.items.set(id, merged);
        this.itemSeq.write(id, this.seq);
        const score = movesTrending(effects, id) ? trendingScore(merged, effects.rates.trending) : undefined;
        if (score !== undefined) this.trend.set(id, score);
      }
      for (const [id, delta] of effects.counts) {
        const c = this.counts.get(id) ?? { views: 0, clicks: 0 };
        this.counts.set(id, { views: c.views + delta.views, clicks: c.clicks + delta.clicks });
      }
      for (const [user, items] of effects.clicked) this.addClicks(user, items);
      if (this.trend.size > TRENDING_CAP * 1.1) this.trimTrending();
    }
    if (batch.analytics !== undefined) this.outbox.set(batch.analytics.batchId, batch.analytics);
    for (const content of batch.contents ?? []) {
      this.contents.set(content.itemId, { ...content });
      if (this.ttl.itemMs > 0) this.contentWrites.write(content.itemId, now);
    }
    this.applyPush(batch.push, effects?.clock ?? this.latest, now);
    this.sweep(now, SWEEP_LIMIT);
    return true;
  }

  private applyPush(tally: PushTally | undefined, clock: number, now: number): void {
    if (tally === undefined) return;
    const userMs = this.ttl.userMs;
    if (userMs > 0) {
      for (const id of tally.users.keys()) {
        if (!this.pushAlive(id, now)) this.push.users.delete(id);
        this.pushWrites.write(id, now);
      }
    }
    this.push.apply(tally);
    // Users inactive for the user TTL (in event time, as the entries are) leave the active set,
    // as in Redis; the batch's time counts no later than the wall clock.
    if (userMs > 0 && tally.active.size > 0) this.push.trimActive(Math.min(clock, now) - userMs);
  }

  private forgetUser(id: string): void {
    this.users.delete(id);
    this.clicked.delete(id);
    this.userWrites.delete(id);
  }

  private forgetItem(id: string): void {
    this.items.delete(id);
    this.counts.delete(id);
    this.trend.delete(id);
    this.itemSeq.delete(id);
  }

  /** Removes at most `limit` expired entries of each kind, oldest first; returns how many. */
  private sweep(now: number, limit: number): number {
    let removed = 0;
    if (this.ttl.userMs > 0) {
      const before = now - this.ttl.userMs;
      for (const id of this.userWrites.expire(before, limit)) {
        this.users.delete(id);
        this.clicked.delete(id);
        removed++;
      }
      for (const id of this.pushWrites.expire(before, limit)) {
        this.push.users.delete(id);
        removed++;
      }
    }
    if (this.ttl.itemMs > 0) {
      const before = now - this.ttl.itemMs;
      for (const id of this.itemSeq.expire(before, limit)) {
        this.forgetItem(id);
        removed++;
      }
      for (const id of this.contentWrites.expire(before, limit)) {
        this.contents.delete(id);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Removes at most `limit` expired users, push counters, items and contents (each), oldest
   * first, as a commit does; resolves with how many. The engine calls it while the input is
   * quiet.
   */
  async sweepExpired(limit = SWEEP_LIMIT): Promise<number> {
    return this.sweep(this.wallNow(), limit);
  }

  private addClicks(user: string, items: ReadonlyMap<string, number>): void {
    let known = this.clicked.get(user);
    if (known === undefined) this.clicked.set(user, (known = new Map()));
    for (const [item, ts] of items) if ((known.get(item) ?? -Infinity) < ts) known.set(item, ts);
    if (known.size > this.clickedMax) {
      this.clicked.set(user, new Map([...known].sort(newestFirst).slice(0, this.clickedMax)));
    }
  }

  async getUser(userId: string): Promise<UserRecord | undefined> {
    const r = this.users.get(userId);
    return r === undefined || !this.userAlive(userId) ? undefined : copyUser(r);
  }

  async getItem(itemId: string): Promise<ItemRecord | undefined> {
    const r = this.items.get(itemId);
    return r === undefined || !this.itemAlive(itemId) ? undefined : copyItem(r);
  }

  async getItemCounts(itemId: string): Promise<ItemCounts> {
    const counts = this.itemAlive(itemId) ? this.counts.get(itemId) : undefined;
    return { ...(counts ?? { views: 0, clicks: 0 }) };
  }

  async getClicked(userId: string): Promise<string[]> {
    if (!this.userAlive(userId)) return [];
    return [...(this.clicked.get(userId) ?? [])].sort(newestFirst).map(([id]) => id);
  }

  async getContent(itemId: string): Promise<ContentEvent | undefined> {
    return (await this.getContents([itemId]))[0];
  }

  async getContents(itemIds: readonly string[]): Promise<Array<ContentEvent | undefined>> {
    const now = this.now();
    return itemIds.map((id) => {
      const content = this.contents.get(id);
      return content === undefined || !this.contentAlive(id, now) ? undefined : { ...content };
    });
  }

  async freshContent(sinceMs: number, limit: number, untilMs = Number.POSITIVE_INFINITY): Promise<ContentEvent[]> {
    if (limit <= 0) return [];
    const now = this.now();
    return [...this.contents.values()]
      .filter((c) => c.publishedAt >= sinceMs && c.publishedAt <= untilMs && this.contentAlive(c.itemId, now))
      .sort((a, b) => b.publishedAt - a.publishedAt || (a.itemId < b.itemId ? 1 : -1))
      .slice(0, limit)
      .map((c) => ({ ...c }));
  }

  async trending(k: number): Promise<Scored[]> {
    return this.sortedTrending().slice(0, k);
  }

  async clock(): Promise<number> {
    return this.latest;
  }

  async itemsChangedSince(seq: number): Promise<ItemChanges> {
    const items: ItemChanges['items'] = [];
    for (const [id, s] of this.itemSeq.entries()) {
      if (s > seq) items.push([id, copyItem(this.items.get(id) as ItemRecord), s]);
    }
    return { seq: this.seq, items };
  }

  async pendingAnalytics(limit: number, maxRows = Number.POSITIVE_INFINITY): Promise<AnalyticsBatch[]> {
    const write = new AnalyticsWrite(limit, maxRows);
    if (limit > 0) for (const batch of this.outbox.values()) if (!write.take(batch)) break;
    return write.batches;
  }

  async pendingAnalyticsCount(): Promise<number> {
    return this.outbox.size;
  }

  async ackAnalytics(batchIds: readonly string[]): Promise<void> {
    for (const id of batchIds) this.outbox.delete(id);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}

  private sortedTrending(): Scored[] {
    const now = this.now();
    return [...this.trend]
      .filter(([id]) => this.itemAlive(id, now))
      .map(([id, score]) => ({ id, score }))
      .sort((a, b) => b.score - a.score);
  }

  private trimTrending(): void {
    for (const { id } of this.sortedTrending().slice(TRENDING_CAP)) this.trend.delete(id);
  }
}
