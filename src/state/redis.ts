import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { ContentEvent } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import type { BatchEffects, StateSnapshot } from '../model/online-mf.ts';
import { addedCounts, movesTrending } from '../model/item-merge.ts';
import {
  clickedItems,
  decodeItem,
  decodeUser,
  VectorSlab,
  ITEM_HEADER_BYTES,
  itemBytes,
  itemTotals,
  userBytes,
  writeItem,
  writeUser,
  type ItemRecord,
  type UserRecord,
} from '../model/records.ts';
import type { Scored } from '../model/topk.ts';
import { decodeOutbox, encodeOutbox } from '../push/activity.ts';
import { tallyArgs } from '../push/tally.ts';
import { mergeClicked } from './clicked-merge.ts';
import { LUA_UNPACK_IDS, Packer } from './packed.ts';
import {
  analyticsRows,
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
import { LUA_SWEEP_ITEMS, SWEEP_LIMIT, SWEEP_SCRIPT } from './sweep.ts';

const COMMIT_SCRIPT = LUA_UNPACK_IDS + LUA_SWEEP_ITEMS + readFileSync(new URL('./commit.lua', import.meta.url), 'utf8');
/** A user whose stored value the commit is not given: the commit script reads and merges it. */
const NOT_READ = 0xffffffff;
/** Keys per MGET: large enough to amortize round trips, small enough not to stall Redis. */
const MGET_CHUNK = 1000;
/** Most outbox entries asked for per HSCAN. */
const OUTBOX_SCAN_COUNT = 64;

/**
 * A read of many keys as commands of MGET_CHUNK keys each, all sent at once: they leave in one
 * socket write and run back to back. Awaited one by one, each would wait its turn behind whatever
 * the server runs meanwhile (another partition's commit script, tens of ms at a backlog).
 */
async function inChunks<T>(ids: readonly string[], read: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const reads: Array<Promise<T[]>> = [];
  for (let i = 0; i < ids.length; i += MGET_CHUNK) reads.push(read(ids.slice(i, i + MGET_CHUNK)));
  return (await Promise.all(reads)).flat();
}

/** 0 when fenced; else [1, users whose value changed after the batch read it]. */
type CommitCommand = (...args: Array<string | Buffer | number>) => Promise<0 | [1, number]>;
type SweepCommand = (prefix: string, itemTtlMs: number, limit: number) => Promise<number>;

export interface RedisStoreOptions {
  url: string;
  /** Prefix of every key, e.g. "fr:". */
  prefix: string;
  dimensions: number;
  redis?: RedisOptions;
  /** Where connection losses are reported; without it they go nowhere (never to the console). */
  logger?: Logger;
  /**
   * Per-user keys (record, clicked items, push counters) expire once not written for this long,
   * ms, and so does an item's content event. An item not written for `itemMs` counts as absent;
   * its record (with its totals) is deleted by the commits that follow (src/state/commit.lua).
   * 0 or absent keeps them for good.
   */
  ttl?: { userMs: number; itemMs: number };
  /** Clicked items remembered per user, the latest kept (CLICKED_MAX_ITEMS by default). */
  clickedMax?: number;
}

/**
 * State in Redis. Key layout under the prefix P:
 * P+off (hash partition -> next offset), P+u:<user> and P+i:<item> (binary
 * records; a user's is followed by its clicked items with their latest click times, newest
 * first, at least the newest `clickedMax` (src/state/commit.lua); an item's by a format byte
 * and its exact view and click totals: `ITEM_TOTALS_BYTES`), P+trend (zset), P+iseq
 * (zset item -> change sequence: the write time in ms, kept increasing), P+seq,
 * P+clock, P+outbox (hash batch id -> analytics rows as JSON), P+meta:<item> (content
 * event as JSON), P+pub (zset item -> publication time). An item record written by an
 * earlier version has no totals: they are in P+ic:<item> (hash views, clicks) until the
 * item's next write moves them into the record. A user value of an earlier version is the bare
 * record, its clicked items in P+cl:<user> (zset item -> latest click time) until the user's
 * next write folds them into the value.
 *
 * Known gap: keys of one batch span hash slots, so Redis Cluster needs the
 * commit split per slot; this store targets a single primary.
 */
/**
 * Most characters (or bytes) a run of commands holds in the corked socket before it is flushed
 * at once: Node refuses one write of strings needing over 2 GB (it reserves 3 bytes a character).
 */
const COALESCE_MAX_LENGTH = 1 << 20;

/**
 * Commands sent in one synchronous run of code (a request's user and clicked-items reads, an
 * index refresh's two reads, a batch's snapshot reads) leave in one socket write instead of one
 * each: on loopback a write is a system call that costs the engine about as much CPU as the
 * rest of a small command. The socket is corked at the first such command and uncorked in the
 * next microtask, or as soon as it holds COALESCE_MAX_LENGTH, so nothing waits for a timer.
 */
function coalesceWrites(client: Redis): void {
  const send = client.sendCommand.bind(client);
  let corked: Redis['stream'] | undefined;
  const flush = () => {
    const socket = corked;
    corked = undefined;
    socket?.uncork();
  };
  client.sendCommand = (command, stream) => {
    const socket = client.stream;
    if (corked === undefined && client.status === 'ready' && socket?.writable === true) {
      corked = socket;
      socket.cork();
      queueMicrotask(flush);
    }
    const sent = send(command, stream);
    if (corked !== undefined && corked.writableLength > COALESCE_MAX_LENGTH) flush();
    return sent;
  };
}

export class RedisStateStore implements StateStore {
  readonly kind = 'redis' as const;
  readonly client: Redis;
  private readonly prefix: string;
  private readonly dimensions: number;
  private readonly ttl: { userMs: number; itemMs: number };
  private readonly clickedMax: number;
  /** User values being read, by user, until the next microtask (see userValue). */
  private readonly userReads = new Map<string, Promise<Buffer | null>>();
  private readonly logger: Pick<Logger, 'warn'> | undefined;
  /** Rows of the outbox entries read lately, a moving average (0 before the first is read). */
  private outboxRowsPerEntry = 0;
  /** The HSCAN cursor of the outbox where the next analytics write starts reading. */
  private outboxCursor = '0';
  /** The stored user values each snapshot was decoded from (null: none), for its commit. */
  private readonly readValues = new WeakMap<StateSnapshot, Map<string, Buffer | null>>();

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix;
    this.dimensions = options.dimensions;
    this.ttl = options.ttl ?? { userMs: 0, itemMs: 0 };
    this.clickedMax = options.clickedMax ?? CLICKED_MAX_ITEMS;
    this.logger = options.logger;
    this.client = new Redis(options.url, { maxRetriesPerRequest: 3, ...options.redis });
    this.client.defineCommand('freshetCommit', { numberOfKeys: 0, lua: COMMIT_SCRIPT });
    this.client.defineCommand('freshetSweep', { numberOfKeys: 0, lua: SWEEP_SCRIPT });
    coalesceWrites(this.client);
    // Without an 'error' listener ioredis prints every failed reconnect to the console. Commands
    // fail (the pipeline retries them) while Redis is away: one line says it went, one it is back.
    let lost = false;
    this.client.on('error', (err: Error) => {
      if (!lost) options.logger?.warn({ err }, 'redis connection lost; retrying');
      lost = true;
    });
    this.client.on('ready', () => {
      if (lost) options.logger?.info('redis connection restored');
      lost = false;
    });
  }

  async readOffset(partition: string): Promise<string | null> {
    return this.client.hget(`${this.prefix}off`, partition);
  }

  async loadSnapshot(userIds: readonly string[], itemIds: readonly string[], readAt = Date.now()): Promise<StateSnapshot> {
    const [users, items, written] = await Promise.all([
      this.mget(userIds.map((id) => `${this.prefix}u:${id}`)),
      this.mget(itemIds.map((id) => `${this.prefix}i:${id}`)),
      this.writtenAt(itemIds),
    ]);
    // Items not written for the item TTL have expired, whether or not a commit swept them yet.
    const expiredBefore = readAt - this.ttl.itemMs;
    const snapshot: StateSnapshot = { users: new Map(), items: new Map() };
    // The model copies what it changes, so the snapshot's vectors live only as long as the batch.
    const slab = new VectorSlab(this.dimensions);
    const values = new Map<string, Buffer | null>();
    userIds.forEach((id, i) => {
      const buf = users[i] ?? null;
      values.set(id, buf);
      const record = buf ? decodeUser(buf, this.dimensions, slab) : undefined;
      if (record !== undefined) snapshot.users.set(id, record);
    });
    this.readValues.set(snapshot, values);
    itemIds.forEach((id, i) => {
      const buf = items[i];
      const at = written[i];
      if (at !== undefined && at !== null && Number(at) < expiredBefore) return;
      const record = buf ? decodeItem(buf, this.dimensions, slab) : undefined;
      if (record !== undefined) snapshot.items.set(id, record);
    });
    return snapshot;
  }

  /** Each item's last write time from the change sequence (null if none); nothing without an item TTL. */
  private async writtenAt(itemIds: readonly string[]): Promise<Array<string | null>> {
    if (this.ttl.itemMs <= 0) return [];
    return inChunks(itemIds, (chunk) => this.client.zmscore(`${this.prefix}iseq`, ...chunk));
  }

  async commit(batch: BatchCommit): Promise<boolean> {
    const args: Array<string | Buffer | number> = [
      this.prefix,
      batch.partition,
      batch.expectedOffset ?? '',
      batch.nextOffset,
      batch.effects?.clock ?? 0,
      TRENDING_CAP,
      this.clickedMax,
      this.ttl.userMs,
      this.ttl.itemMs,
      this.dimensions,
      batch.readAt ?? '',
    ];
    args.push(...this.packEffects(batch.effects, batch.read === undefined ? undefined : this.readValues.get(batch.read)));
    if (batch.analytics === undefined) args.push('', '');
    else args.push(batch.analytics.batchId, encodeOutbox(batch.analytics));
    const contents = batch.contents ?? [];
    args.push(contents.length);
    for (const c of contents) args.push(c.itemId, JSON.stringify(c), c.publishedAt);
    args.push(...tallyArgs(batch.push));

    const run = (this.client as unknown as { freshetCommit: CommitCommand }).freshetCommit;
    const result = await run.apply(this.client, args);
    if (!Array.isArray(result)) return false;
    const [applied, changed] = result;
    if (changed > 0) {
      // A user has one writer when its events are keyed by user: another means they are not.
      this.logger?.warn(
        { partition: batch.partition, users: changed },
        "user values changed between a batch's read and its commit (one user's events under several keys?); merged by the commit",
      );
    }
    return applied === 1;
  }

  /**
   * Users and items of a batch as a few packed arguments (src/state/packed.ts): user ids,
   * records, and the items each clicked; decay rates, item ids, modes and item data.
   * Each item is its record, and two mode characters: 'r' (the record replaces), 'm' (merge:
   * the record is written if the stored one is still the one the batch read, see
   * src/model/item-merge.ts) or 'c' (merge, clicked in the batch); then '+' when the batch
   * created the item, else '-'. Each record is followed by the views and clicks the batch
   * counted for the item, and a merged one then by the header of the record it was computed
   * from and the decayed views and clicks it added. With the values the batch read (`read`),
   * each user also gets the value read and its clicked items merged (src/state/clicked-merge.ts),
   * which the script writes while the stored value is still that one.
   */
  private packEffects(effects: BatchEffects | undefined, read: Map<string, Buffer | null> | undefined): Array<string | Buffer | number> {
    const dims = this.dimensions;
    checkClickers(effects);
    // Sized for the batch (ids of about 30 bytes), so that a small batch allocates little.
    const userCount = effects?.users.size ?? 0;
    const itemCount = effects?.items.size ?? 0;
    const userIds = new Packer(userCount * 32);
    const users = new Packer(userCount * userBytes(dims));
    // Per user, the items it clicked in the batch in the stored order, at most the cap: their
    // number, their bytes, and the items (time, id length, id; src/state/commit.lua).
    const clickCounts = new Packer(userCount * 4);
    const clickLengths = new Packer(userCount * 4);
    const clicks = new Packer(1024);
    // Per user, the value read and what follows the record after the merge (see commit.lua).
    const readValues = new Packer(read === undefined ? 64 : userCount * 512);
    const tails = new Packer(read === undefined ? 64 : userCount * 512);
    for (const [id, r] of effects?.users ?? []) {
      userIds.id(id);
      users.put(userBytes(dims), (buf, at) => writeUser(buf, at, r));
      const clicked = effects?.clicked.get(id);
      const entries = clicked === undefined ? [] : [...clicked].sort(newestFirst).slice(0, this.clickedMax);
      const start = clicks.size;
      for (const [item, ts] of entries) {
        clicks.float64(ts);
        clicks.id(item);
      }
      clickCounts.uint32(entries.length);
      clickLengths.uint32(clicks.size - start);
      const value = read?.get(id);
      const tail =
        value === undefined ? undefined : mergeClicked(value, clicks.view(start), entries.length, dims, this.clickedMax);
      if (value === undefined || tail === undefined) {
        readValues.uint32(NOT_READ);
        continue;
      }
      readValues.uint32(value === null ? 0 : value.length);
      if (value !== null) readValues.bytes(value);
      tails.uint32(tail.length);
      tails.bytes(tail);
    }
    const rates = effects?.rates ?? { item: 0, trending: 0 };
    const itemIds = new Packer(itemCount * 32);
    const items = new Packer(itemCount * (itemBytes(dims) + ITEM_HEADER_BYTES + 32));
    let modes = '';
    let countedWritten = 0;
    for (const [id, r] of effects?.items ?? []) {
      itemIds.id(id);
      items.put(itemBytes(dims), (buf, at) => writeItem(buf, at, r));
      const counted = effects?.counts.get(id);
      if (counted !== undefined) countedWritten++;
      items.float64(counted?.views ?? 0);
      items.float64(counted?.clicks ?? 0);
      const base = effects?.itemBases.get(id);
      if (effects === undefined || base === undefined) {
        modes += 'r-';
        continue;
      }
      modes += movesTrending(effects, id) ? 'c' : 'm';
      modes += base.stored ? '-' : '+';
      const b = base.record;
      const added = addedCounts(b, r, rates);
      // The header of the record it was computed from, then the decayed counts it added.
      items.float64(b.ts);
      items.float64(b.bias);
      items.float64(b.views);
      items.float64(b.clicks);
      items.float64(added.views);
      items.float64(added.clicks);
    }
    if (countedWritten !== (effects?.counts.size ?? 0)) {
      // The totals live in the item's record: a count needs the record written with it.
      const id = [...(effects?.counts.keys() ?? [])].find((counted) => !effects?.items.has(counted));
      throw new Error(`a batch counts views or clicks of item ${JSON.stringify(id)} but does not write it`);
    }
    return [
      userIds.toBuffer(), users.toBuffer(), clickCounts.toBuffer(), clickLengths.toBuffer(), clicks.toBuffer(),
      readValues.toBuffer(), tails.toBuffer(),
      String(rates.item), String(rates.trending), itemIds.toBuffer(), modes, items.toBuffer(),
    ];
  }

  async getUser(userId: string): Promise<UserRecord | undefined> {
    const buf = await this.userValue(userId);
    return buf === null ? undefined : decodeUser(buf, this.dimensions);
  }

  /**
   * A user's stored value. Reads of one user issued in the same run of code (a request's record
   * and clicked items) share one GET: its record and its clicked items are one value, and a
   * read issued at the same moment sees no other state. The next microtask forgets them.
   */
  private userValue(userId: string): Promise<Buffer | null> {
    let read = this.userReads.get(userId);
    if (read === undefined) {
      if (this.userReads.size === 0) queueMicrotask(() => this.userReads.clear());
      read = this.client.getBuffer(`${this.prefix}u:${userId}`);
      this.userReads.set(userId, read);
    }
    return read;
  }

  async getItem(itemId: string): Promise<ItemRecord | undefined> {
    const buf = await this.client.getBuffer(`${this.prefix}i:${itemId}`);
    return buf === null ? undefined : decodeItem(buf, this.dimensions);
  }

  async getItemCounts(itemId: string): Promise<ItemCounts> {
    const read = async () => {
      const buf = await this.client.getBuffer(`${this.prefix}i:${itemId}`);
      return buf === null ? undefined : itemTotals(buf, this.dimensions);
    };
    const totals = await read();
    if (totals !== undefined) return totals;
    // Not written since an earlier version, which kept the totals in a hash of their own. A
    // commit may move the hash into the record between the two reads: then the record has them.
    const [views, clicks] = await this.client.hmget(`${this.prefix}ic:${itemId}`, 'views', 'clicks');
    if (views === null && clicks === null) return (await read()) ?? { views: 0, clicks: 0 };
    return { views: Number(views ?? 0), clicks: Number(clicks ?? 0) };
  }

  async getClicked(userId: string): Promise<string[]> {
    const buf = await this.userValue(userId);
    if (buf === null) return [];
    // A bare record is of the earlier layout, whose zset the user's next write folds in.
    if (buf.length === userBytes(this.dimensions)) return this.client.zrevrange(`${this.prefix}cl:${userId}`, 0, this.clickedMax - 1);
    // A list may run past the cap (by the commit's slack, or kept under a larger one).
    return clickedItems(buf, this.dimensions, this.clickedMax) ?? [];
  }

  async getContent(itemId: string): Promise<ContentEvent | undefined> {
    const json = await this.client.get(`${this.prefix}meta:${itemId}`);
    return json === null ? undefined : (JSON.parse(json) as ContentEvent);
  }

  async getContents(itemIds: readonly string[]): Promise<Array<ContentEvent | undefined>> {
    const values = await inChunks(itemIds, (chunk) => this.client.mget(...chunk.map((id) => `${this.prefix}meta:${id}`)));
    return values.map((json) => (json === null ? undefined : (JSON.parse(json) as ContentEvent)));
  }

  async freshContent(sinceMs: number, limit: number, untilMs = Number.POSITIVE_INFINITY): Promise<ContentEvent[]> {
    if (limit <= 0) return [];
    const key = `${this.prefix}pub`;
    const until = untilMs === Number.POSITIVE_INFINITY ? '+inf' : untilMs;
    const ids = await this.client.zrevrangebyscore(key, until, sinceMs, 'LIMIT', 0, limit);
    const contents = await this.getContents(ids);
    return contents.filter((c): c is ContentEvent => c !== undefined);
  }

  async trending(k: number): Promise<Scored[]> {
    if (k <= 0) return [];
    const flat = await this.client.zrevrange(`${this.prefix}trend`, 0, k - 1, 'WITHSCORES');
    const out: Scored[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i] as string, score: Number(flat[i + 1]) });
    return out;
  }

  async clock(): Promise<number> {
    return Number((await this.client.get(`${this.prefix}clock`)) ?? 0);
  }

  async itemsChangedSince(seq: number): Promise<ItemChanges> {
    const flat = await this.client.zrangebyscore(`${this.prefix}iseq`, `(${seq}`, '+inf', 'WITHSCORES');
    const ids: string[] = [];
    const written: number[] = [];
    let latest = seq;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      ids.push(flat[i] as string);
      written.push(Number(flat[i + 1]));
      latest = Math.max(latest, Number(flat[i + 1]));
    }
    const bufs = await this.mget(ids.map((id) => `${this.prefix}i:${id}`));
    const items: ItemChanges['items'] = [];
    // Indexes copy the vectors they keep.
    const slab = new VectorSlab(this.dimensions);
    ids.forEach((id, i) => {
      const buf = bufs[i];
      const record = buf ? decodeItem(buf, this.dimensions, slab) : undefined;
      if (record !== undefined) items.push([id, record, written[i] as number]);
    });
    return { seq: latest, items };
  }

  async pendingAnalytics(limit: number, maxRows = Number.POSITIVE_INFINITY): Promise<AnalyticsBatch[]> {
    const write = new AnalyticsWrite(limit, maxRows);
    const seen = new Set<string>();
    let room = limit > 0;
    // Where the last write stopped: the entries before it were taken by the writes since, and
    // a scan from the start would step over their emptied slots again at every write (a backlog
    // of thousands of entries then cost hundreds of round trips a write). A scan begun there
    // goes on from the start once it reaches the end, over the whole outbox once more at most.
    let cursor = this.outboxCursor;
    let wrapped = cursor === '0';
    while (room) {
      // Not the whole outbox in one reply: a backlog batch's entry holds thousands of rows. Nor
      // more entries than the write's rows can take, judged by the entries read so far: the rest
      // of a reply is read, decoded and dropped, megabytes a write in a backlog.
      const fit = this.outboxRowsPerEntry > 0 ? Math.ceil(write.rowsLeft / this.outboxRowsPerEntry) : 1;
      const count = Math.max(1, Math.min(limit - write.batches.length, OUTBOX_SCAN_COUNT, fit));
      const [next, flat] = await this.client.hscan(`${this.prefix}outbox`, cursor, 'COUNT', count);
      for (let i = 0; room && i + 1 < flat.length; i += 2) {
        const batchId = flat[i] as string;
        // Met again after the scan went round.
        if (seen.has(batchId)) continue;
        seen.add(batchId);
        const batch = decodeOutbox(batchId, flat[i + 1] as string);
        const rows = Math.max(1, analyticsRows(batch));
        this.outboxRowsPerEntry = this.outboxRowsPerEntry > 0 ? this.outboxRowsPerEntry + (rows - this.outboxRowsPerEntry) / 8 : rows;
        room = write.take(batch);
      }
      if (!room) {
        // This reply's slots again next time: what it held beyond this write is still there.
        this.outboxCursor = cursor;
        break;
      }
      cursor = next;
      if (cursor === '0') {
        if (wrapped) {
          this.outboxCursor = '0';
          break;
        }
        wrapped = true;
      }
    }
    return write.batches;
  }

  async pendingAnalyticsCount(): Promise<number> {
    return this.client.hlen(`${this.prefix}outbox`);
  }

  async ackAnalytics(batchIds: readonly string[]): Promise<void> {
    if (batchIds.length > 0) await this.client.hdel(`${this.prefix}outbox`, ...batchIds);
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /**
   * Removes up to `limit` items not written for the item TTL by Redis's clock, oldest first, as
   * a commit's sweep does; resolves with how many (0 without an item TTL).
   */
  async sweepExpired(limit = SWEEP_LIMIT): Promise<number> {
    if (this.ttl.itemMs <= 0) return 0;
    const sweep = (this.client as unknown as { freshetSweep: SweepCommand }).freshetSweep;
    return sweep.call(this.client, this.prefix, this.ttl.itemMs, limit);
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }

  private mget(keys: readonly string[]): Promise<Array<Buffer | null>> {
    return inChunks(keys, (chunk) => this.client.mgetBuffer(...chunk));
  }
}
