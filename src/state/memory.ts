import type { ContentEvent } from '../events/schema.ts';
import type { StateSnapshot } from '../model/online-mf.ts';
import { committedItem, movesTrending, trendingScore } from '../model/item-merge.ts';
import type { ItemRecord, UserRecord } from '../model/records.ts';
import type { Scored } from '../model/topk.ts';
import { MemoryPushLedger } from '../push/ledger.ts';
import {
  analyticsRows,
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

function copyUser(r: UserRecord): UserRecord {
  return { ...r, vec: r.vec.slice() };
}

function copyItem(r: ItemRecord): ItemRecord {
  return { ...r, vec: r.vec.slice() };
}

/**
 * In-process state for the embedded mode and for tests. Lost when the process ends.
 * Known gap: nothing expires here (USER_TTL_MS and ITEM_TTL_MS apply to Redis only).
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
  private readonly itemSeq = new Map<string, number>();
  private readonly outbox = new Map<string, AnalyticsBatch>();
  private readonly contents = new Map<string, ContentEvent>();
  /** Push counters, read by the push loop's in-process store. */
  readonly push = new MemoryPushLedger();
  private readonly clickedMax: number;
  private seq = 0;
  private latest = 0;

  constructor(options: { clickedMax?: number } = {}) {
    this.clickedMax = options.clickedMax ?? CLICKED_MAX_ITEMS;
  }

  async readOffset(partition: string): Promise<string | null> {
    return this.offsets.get(partition) ?? null;
  }

  async loadSnapshot(userIds: readonly string[], itemIds: readonly string[]): Promise<StateSnapshot> {
    const users = new Map<string, UserRecord>();
    const items = new Map<string, ItemRecord>();
    for (const id of userIds) {
      const r = this.users.get(id);
      if (r !== undefined) users.set(id, copyUser(r));
    }
    for (const id of itemIds) {
      const r = this.items.get(id);
      if (r !== undefined) items.set(id, copyItem(r));
    }
    return { users, items };
  }

  async commit(batch: BatchCommit): Promise<boolean> {
    checkClickers(batch.effects);
    if ((this.offsets.get(batch.partition) ?? null) !== batch.expectedOffset) return false;
    this.offsets.set(batch.partition, batch.nextOffset);

    const effects = batch.effects;
    if (effects !== undefined) {
      this.latest = Math.max(this.latest, effects.clock);
      for (const [id, r] of effects.users) this.users.set(id, copyUser(r));
      // The change sequence is the write time in ms, kept increasing, as in Redis.
      if (effects.items.size > 0) this.seq = Math.max(this.seq + 1, Date.now());
      for (const id of effects.items.keys()) {
        const merged = committedItem(this.items.get(id), id, effects);
        this.items.set(id, merged);
        this.itemSeq.set(id, this.seq);
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
    for (const content of batch.contents ?? []) this.contents.set(content.itemId, { ...content });
    this.push.apply(batch.push);
    return true;
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
    return r === undefined ? undefined : copyUser(r);
  }

  async getItem(itemId: string): Promise<ItemRecord | undefined> {
    const r = this.items.get(itemId);
    return r === undefined ? undefined : copyItem(r);
  }

  async getItemCounts(itemId: string): Promise<ItemCounts> {
    return { ...(this.counts.get(itemId) ?? { views: 0, clicks: 0 }) };
  }

  async getClicked(userId: string): Promise<string[]> {
    return [...(this.clicked.get(userId) ?? [])].sort(newestFirst).map(([id]) => id);
  }

  async getContent(itemId: string): Promise<ContentEvent | undefined> {
    const content = this.contents.get(itemId);
    return content === undefined ? undefined : { ...content };
  }

  async getContents(itemIds: readonly string[]): Promise<Array<ContentEvent | undefined>> {
    return itemIds.map((id) => {
      const content = this.contents.get(id);
      return content === undefined ? undefined : { ...content };
    });
  }

  async freshContent(sinceMs: number, limit: number): Promise<ContentEvent[]> {
    if (limit <= 0) return [];
    return [...this.contents.values()]
      .filter((c) => c.publishedAt >= sinceMs)
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
    for (const [id, s] of this.itemSeq) {
      if (s > seq) items.push([id, copyItem(this.items.get(id) as ItemRecord), s]);
    }
    return { seq: this.seq, items };
  }

  async pendingAnalytics(limit: number, maxRows = Number.POSITIVE_INFINITY): Promise<AnalyticsBatch[]> {
    const out: AnalyticsBatch[] = [];
    let rows = 0;
    for (const batch of this.outbox.values()) {
      if (out.length >= limit || rows >= maxRows) break;
      out.push(batch);
      rows += analyticsRows(batch);
    }
    return out;
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
    return [...this.trend].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score);
  }

  private trimTrending(): void {
    for (const { id } of this.sortedTrending().slice(TRENDING_CAP)) this.trend.delete(id);
  }
}
