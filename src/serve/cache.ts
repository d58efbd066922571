import type { ContentEvent } from '../events/schema.ts';
import type { StateSnapshot } from '../model/online-mf.ts';
import type { ItemRecord, UserRecord } from '../model/records.ts';
import type { Scored } from '../model/topk.ts';
import type {
  AnalyticsBatch,
  BatchCommit,
  ItemChanges,
  ItemCounts,
  StateStore,
} from '../state/store.ts';

export interface HotCacheOptions {
  /** How long a loaded value is served without asking the store again, ms; 0 only coalesces. */
  ttlMs: number;
  /** Most values kept; the oldest loaded are dropped first. */
  maxEntries: number;
  now?: () => number;
}

/** What a cache did, for tests and metrics. */
export interface HotCacheStats {
  hits: number;
  /** Requests that joined a read already in flight for the same key. */
  coalesced: number;
  /** Keys read from the store. */
  misses: number;
}

interface Entry<V> {
  value: V;
  expires: number;
}

/**
 * Values by key with a short time to live and request coalescing: while a key
 * is being read, every other request for it waits on that one read, so a hot
 * key costs one store read per TTL however many requests need it. Values are
 * shared between callers: treat them as read-only. A failed read is not kept.
 */
export class HotCache<V> {
  readonly stats: HotCacheStats = { hits: 0, coalesced: 0, misses: 0 };
  private readonly values = new Map<string, Entry<V>>();
  private readonly inflight = new Map<string, Promise<V>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: HotCacheOptions) {
    this.ttlMs = options.ttlMs;
    this.maxEntries = options.maxEntries;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.values.size;
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    const known = this.lookup(key);
    if (known !== undefined) return known;
    this.stats.misses++;
    return this.track(key, load());
  }

  /** Values of several keys; the keys neither cached nor in flight are read in one call. */
  async getMany(
    keys: readonly string[],
    loadMany: (missing: string[]) => Promise<V[]>,
  ): Promise<V[]> {
    const values = new Map<string, V>();
    const work: Array<Promise<unknown>> = [];
    const missing: string[] = [];
    const seen = new Set<string>();
    const now = this.now();
    for (const key of keys) {
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = this.values.get(key);
      if (entry !== undefined && entry.expires > now) {
        this.stats.hits++;
        values.set(key, entry.value);
        continue;
      }
      const pending = this.inflight.get(key);
      if (pending === undefined) {
        missing.push(key);
        continue;
      }
      this.stats.coalesced++;
      work.push(pending.then((value) => values.set(key, value)));
    }
    if (missing.length > 0) {
      this.stats.misses += missing.length;
      const batch = loadMany(missing);
      missing.forEach((key, i) => this.track(key, batch.then((loaded) => loaded[i] as V)));
      work.push(batch.then((loaded) => missing.forEach((key, i) => values.set(key, loaded[i] as V))));
    }
    // One await for all, so that every rejection is handled.
    await Promise.all(work);
    return keys.map((key) => values.get(key) as V);
  }

  /** Keeps a value read along with something else, unless the key is already cached. */
  prime(key: string, value: V): void {
    const entry = this.values.get(key);
    if (entry === undefined || entry.expires <= this.now()) this.keep(key, value);
  }

  /** Forgets every value (reads in flight still finish). */
  clear(): void {
    this.values.clear();
  }

  /**
   * Forgets the values of these keys, and the reads of them in flight, which may have read
   * before a change: the next request reads the store again.
   */
  forget(keys: Iterable<string>): void {
    for (const key of keys) {
      this.values.delete(key);
      this.inflight.delete(key);
    }
  }

  private lookup(key: string): Promise<V> | undefined {
    const entry = this.values.get(key);
    if (entry !== undefined) {
      if (entry.expires > this.now()) {
        this.stats.hits++;
        return Promise.resolve(entry.value);
      }
      this.values.delete(key);
    }
    const pending = this.inflight.get(key);
    if (pending !== undefined) this.stats.coalesced++;
    return pending;
  }

  private track(key: string, promise: Promise<V>): Promise<V> {
    this.inflight.set(key, promise);
    const settle = () => {
      if (this.inflight.get(key) === promise) this.inflight.delete(key);
    };
    promise.then((value) => {
      // A read forgotten while in flight may predate a change: it answers its callers only.
      const current = this.inflight.get(key) === promise;
      settle();
      if (current) this.keep(key, value);
    }, settle);
    return promise;
  }

  private keep(key: string, value: V): void {
    if (this.ttlMs <= 0) return;
    this.values.delete(key);
    this.values.set(key, { value, expires: this.now() + this.ttlMs });
    for (const oldest of this.values.keys()) {
      if (this.values.size <= this.maxEntries) break;
      this.values.delete(oldest);
    }
  }
}

/** Trending lists are read in a few sizes, so requests for different k share one read. */
const TRENDING_SIZES = [100, 1000, 10_000];

/**
 * The state store as the API reads it: item records, counters, content, the
 * clock and trending lists come from a short-TTL in-process cache, user
 * records and clicked-sets are coalesced but never kept (a user's own click
 * must filter at once). Writes and the pipeline's reads go straight through.
 */
export class CachedStateStore implements StateStore {
  readonly kind: StateStore['kind'];
  readonly inner: StateStore;
  readonly items: HotCache<ItemRecord | undefined>;
  readonly counts: HotCache<ItemCounts>;
  readonly contents: HotCache<ContentEvent | undefined>;
  readonly lists: HotCache<unknown>;
  readonly users: HotCache<UserRecord | undefined>;
  readonly clicked: HotCache<string[]>;

  constructor(inner: StateStore, options: HotCacheOptions) {
    this.inner = inner;
    this.kind = inner.kind;
    this.items = new HotCache(options);
    this.counts = new HotCache(options);
    this.contents = new HotCache(options);
    this.lists = new HotCache(options);
    this.users = new HotCache({ ...options, ttlMs: 0 });
    this.clicked = new HotCache({ ...options, ttlMs: 0 });
  }

  /**
   * Forgets what a batch this process committed has changed: its items' records and counters,
   * the clock and the trending lists. Reads after the commit see it at once; changes committed
   * by other processes show within the TTL.
   */
  committed(itemIds: Iterable<string>): void {
    const ids = [...new Set(itemIds)];
    this.items.forget(ids);
    this.counts.forget(ids);
    this.lists.forget(['clock', ...TRENDING_SIZES.map((size) => `trending:${size}`)]);
  }

  readOffset(partition: string): Promise<string | null> {
    return this.inner.readOffset(partition);
  }

  loadSnapshot(userIds: readonly string[], itemIds: readonly string[], readAt?: number): Promise<StateSnapshot> {
    return this.inner.loadSnapshot(userIds, itemIds, readAt);
  }

  commit(batch: BatchCommit): Promise<boolean> {
    return this.inner.commit(batch);
  }

  getUser(userId: string): Promise<UserRecord | undefined> {
    return this.users.get(userId, () => this.inner.getUser(userId));
  }

  getItem(itemId: string): Promise<ItemRecord | undefined> {
    return this.items.get(itemId, () => this.inner.getItem(itemId));
  }

  /** Item records of several items, in the order asked; one store read for those not cached. */
  getItems(itemIds: readonly string[]): Promise<Array<ItemRecord | undefined>> {
    return this.items.getMany(itemIds, async (missing) => {
      const snapshot = await this.inner.loadSnapshot([], missing);
      return missing.map((id) => snapshot.items.get(id));
    });
  }

  getItemCounts(itemId: string): Promise<ItemCounts> {
    return this.counts.get(itemId, () => this.inner.getItemCounts(itemId));
  }

  getClicked(userId: string): Promise<string[]> {
    return this.clicked.get(userId, () => this.inner.getClicked(userId));
  }

  getContent(itemId: string): Promise<ContentEvent | undefined> {
    return this.contents.get(itemId, () => this.inner.getContent(itemId));
  }

  getContents(itemIds: readonly string[]): Promise<Array<ContentEvent | undefined>> {
    return this.contents.getMany(itemIds, (missing) => this.inner.getContents(missing));
  }

  /** Fresh content; its events also fill the content cache, so ranking it reads nothing more. */
  async freshContent(sinceMs: number, limit: number, untilMs?: number): Promise<ContentEvent[]> {
    const key = `fresh:${sinceMs}:${limit}:${untilMs ?? ''}`;
    const list = await this.lists.get(key, async () => {
      const contents = await this.inner.freshContent(sinceMs, limit, untilMs);
      for (const c of contents) this.contents.prime(c.itemId, c);
      return contents;
    });
    return list as ContentEvent[];
  }

  /** A value derived from state (a ranked list, say), computed once per TTL however many need it. */
  async remember<T>(key: string, compute: () => Promise<T>): Promise<T> {
    return (await this.lists.get(`derived:${key}`, compute)) as T;
  }

  async trending(k: number): Promise<Scored[]> {
    const size = TRENDING_SIZES.find((n) => n >= k) ?? k;
    const list = await this.lists.get(`trending:${size}`, () => this.inner.trending(size));
    return (list as Scored[]).slice(0, k);
  }

  async clock(): Promise<number> {
    return (await this.lists.get('clock', () => this.inner.clock())) as number;
  }

  itemsChangedSince(seq: number): Promise<ItemChanges> {
    return this.inner.itemsChangedSince(seq);
  }

  pendingAnalytics(limit: number, maxRows?: number): Promise<AnalyticsBatch[]> {
    return this.inner.pendingAnalytics(limit, maxRows);
  }

  pendingAnalyticsCount(): Promise<number> {
    return this.inner.pendingAnalyticsCount();
  }

  ackAnalytics(batchIds: readonly string[]): Promise<void> {
    return this.inner.ackAnalytics(batchIds);
  }

  sweepExpired(limit?: number): Promise<number> {
    return this.inner.sweepExpired(limit);
  }

  ping(): Promise<boolean> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
