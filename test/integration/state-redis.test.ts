import { afterAll, describe, expect, it } from 'vitest';
import type { BatchEffects } from '../../src/model/online-mf.ts';
import { encodeItem, encodeUser, ITEM_TOTALS_BYTES, itemBytes, userBytes, type ItemRecord } from '../../src/model/records.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import { TRENDING_CAP } from '../../src/state/store.ts';
import { stateStoreContract } from '../contract/state-store.ts';
import { service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');

const item = (clicks: number): ItemRecord => ({ ts: 1000, bias: 0.1, views: 1, clicks, vec: Float32Array.from([1, 0, 0, 0]) });

function effects(user: string, items: string[]): BatchEffects {
  return {
    users: new Map([[user, { ts: 1000, count: 1, vec: Float32Array.from([0, 1, 0, 0]) }]]),
    items: new Map(items.map((id) => [id, item(1)])),
    itemBases: new Map(),
    rates: { item: 0, trending: 0 },
    counts: new Map(items.map((id) => [id, { views: 1, clicks: 1 }])),
    clicked: new Map([[user, new Map(items.map((id) => [id, 1000]))]]),
    clock: 1000,
  };
}

/** Commits `batches` batches with `half` item rows and `half` user rows each; their ids, in order. */
async function fillOutbox(store: RedisStateStore, batches: number, half: number): Promise<string[]> {
  const ids: string[] = [];
  for (let at = 0; at < batches; at++) {
    const batchId = `b${String(at).padStart(4, '0')}`;
    ids.push(batchId);
    const rows = Array.from({ length: half }, (_, n) => ({ minute: 60, itemId: `i${at}-${n}`, views: 1, clicks: 0 }));
    const users = Array.from({ length: half }, (_, n) => ({ day: 0, userId: `u${at}-${n}`, events: 1, pushOpens: 0 }));
    const committed = await store.commit({
      partition: 'g/outbox/0',
      expectedOffset: at === 0 ? null : String(at),
      nextOffset: String(at + 1),
      effects: undefined,
      analytics: { batchId, rows, users },
    });
    if (!committed) throw new Error(`batch ${batchId} was not committed`);
  }
  return ids;
}

describe.skipIf(url === undefined)('redis', () => {
  stateStoreContract('redis', async () =>
    new RedisStateStore({ url: url as string, prefix: `${uniqueName('t')}:`, dimensions: 4 }),
  );

  it('sends the commands issued in one run of code in one socket write, and answers each', async () => {
    const store = new RedisStateStore({ url: url as string, prefix: `${uniqueName('cork')}:`, dimensions: 4 });
    expect(await store.commit({ partition: 'g/cork/0', expectedOffset: null, nextOffset: '1', effects: effects('u', ['a', 'b']), analytics: undefined })).toBe(true);
    const socket = store.client.stream;
    const user = store.getUser('u');
    const clicked = store.getClicked('u');
    // Both commands wait in the corked socket, which the next microtask flushes at once.
    expect(socket.writableCorked).toBe(1);
    expect(socket.writableLength).toBeGreaterThan(0);
    await Promise.resolve();
    expect([socket.writableCorked, socket.writableLength]).toEqual([0, 0]);
    expect((await user)?.count).toBe(1);
    expect((await clicked).sort()).toEqual(['a', 'b']);
    // The record and the clicked items are one value: asked for together, they are read once.
    const gets: string[] = [];
    const getBuffer = store.client.getBuffer.bind(store.client);
    store.client.getBuffer = ((key: string) => {
      gets.push(key);
      return getBuffer(key);
    }) as typeof store.client.getBuffer;
    const [again, againClicked] = await Promise.all([store.getUser('u'), store.getClicked('u'), store.getUser('nobody')]);
    expect(again?.count).toBe(1);
    expect(againClicked.sort()).toEqual(['a', 'b']);
    expect(gets.map((key) => key.slice(key.lastIndexOf(':') + 1))).toEqual(['u', 'nobody']);
    // A later read is a read of its own.
    expect(await store.getClicked('u')).toHaveLength(2);
    expect(gets).toHaveLength(3);
    store.client.getBuffer = getBuffer;
    // Commands issued later, one at a time, still go out and are answered.
    expect(await store.getUser('nobody')).toBeUndefined();
    expect(await store.getClicked('u')).toHaveLength(2);
    expect(socket.writableCorked).toBe(0);
    // A run that grows past the cap is flushed at once: Node refuses a single write of strings
    // past 2 GB, and ioredis would resend the same run after each failed connection.
    const big = 'x'.repeat(3 << 20);
    const echoed = store.client.echo(big);
    expect(socket.writableCorked).toBe(0);
    expect(await echoed).toHaveLength(big.length);
    await store.close();
  });

  it('reads more keys than one MGET takes with every command sent at once, each record under its id', async () => {
    const store = new RedisStateStore({ url: url as string, prefix: `${uniqueName('wide')}:`, dimensions: 4, ttl: { userMs: 60_000, itemMs: 60_000 } });
    const stored = Array.from({ length: 2_500 }, (_, i) => `s${i}`);
    const batch = effects('u', stored);
    stored.forEach((id, i) => batch.items.set(id, item(i + 1)));
    expect(await store.commit({ partition: 'g/wide/0', expectedOffset: null, nextOffset: '1', effects: batch, analytics: undefined })).toBe(true);
    // Stored and never-stored ids interleaved, so that a reply matched to the wrong key shows.
    const ids = stored.flatMap((id, i) => (i % 2 === 0 ? [id, `missing${i}`] : [id]));
    const queued = store.client.commandQueue.length;
    const reading = store.loadSnapshot(['u', ...ids.slice(0, 1_200)], ids);
    // Users 2 MGETs, items 4 and their write times 4 ZMSCOREs: all on their way before any reply.
    expect(store.client.commandQueue.length - queued).toBe(10);
    const snapshot = await reading;
    expect(snapshot.users.size).toBe(1);
    expect(snapshot.items.size).toBe(2_500);
    stored.forEach((id, i) => expect(snapshot.items.get(id)?.clicks).toBe(i + 1));
    await store.close();
  });

  it('sweeps expired items without a commit, at most the limit a call, oldest first', async () => {
    const prefix = `${uniqueName('idle')}:`;
    const store = new RedisStateStore({ url: url as string, prefix, dimensions: 4, ttl: { userMs: 60_000, itemMs: 300 } });
    const commit = (n: number, items: string[]) =>
      store.commit({ partition: `g/idle/${n}`, expectedOffset: null, nextOffset: '1', effects: effects('u', items), analytics: undefined });
    expect(await commit(0, ['x', 'y'])).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await commit(1, ['z'])).toBe(true);
    expect(await store.sweepExpired()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const left = async () => [
      await store.client.zrange(`${prefix}iseq`, 0, -1),
      await store.client.zrange(`${prefix}trend`, 0, -1),
      await store.client.exists(`${prefix}i:x`, `${prefix}i:y`, `${prefix}i:z`),
    ];
    expect(await store.sweepExpired(2)).toBe(2);
    expect(await left()).toEqual([['z'], ['z'], 1]);
    expect(await store.sweepExpired()).toBe(1);
    expect(await left()).toEqual([[], [], 0]);
    expect(await store.sweepExpired()).toBe(0);
    // Without an item TTL nothing is ever swept.
    const keep = new RedisStateStore({ url: url as string, prefix: `${uniqueName('keep')}:`, dimensions: 4 });
    expect(await keep.sweepExpired()).toBe(0);
    await Promise.all([store.close(), keep.close()]);
  });

  it('answers at most its own cap of clicked items, also from a record kept under a larger one', async () => {
    const prefix = `${uniqueName('cap')}:`;
    const wide = new RedisStateStore({ url: url as string, prefix, dimensions: 4, clickedMax: 50 });
    const narrow = new RedisStateStore({ url: url as string, prefix, dimensions: 4, clickedMax: 5 });
    const clicks = new Map(Array.from({ length: 20 }, (_, n) => [`c${String(n).padStart(2, '0')}`, n] as [string, number]));
    const batch = { ...effects('w', []), clicked: new Map([['w', clicks]]) };
    expect(await wide.commit({ partition: 'g/cap/0', expectedOffset: null, nextOffset: '1', effects: batch, analytics: undefined })).toBe(true);
    expect(await wide.getClicked('w')).toHaveLength(20);
    expect(await narrow.getClicked('w')).toEqual(['c19', 'c18', 'c17', 'c16', 'c15']);
    await Promise.all([wide.close(), narrow.close()]);
  });

  it("reads clicked items of the earlier layout's zset, and folds them into the user's value at its next write", async () => {
    const prefix = `${uniqueName('fold')}:`;
    const store = new RedisStateStore({ url: url as string, prefix, dimensions: 4, clickedMax: 3, ttl: { userMs: 60_000, itemMs: 0 } });
    // As an earlier version left it: the bare record, the clicked items in a zset.
    await store.client.set(`${prefix}u:old`, encodeUser({ ts: 500, count: 2, vec: Float32Array.from([1, 1, 1, 1]) }));
    await store.client.zadd(`${prefix}cl:old`, 100, 'x', 300, 'y', 200, 'z', 50, 'w');
    expect(await store.getClicked('old')).toEqual(['y', 'z', 'x']);
    expect((await store.getUser('old'))?.count).toBe(2);
    // A click of x again, later: it moves up; the oldest falls past the cap of 3.
    const batch = effects('old', []);
    batch.clicked = new Map([['old', new Map([['x', 400]])]]);
    expect(await store.commit({ partition: 'g/fold/0', expectedOffset: null, nextOffset: '1', effects: batch, analytics: undefined })).toBe(true);
    expect(await store.getClicked('old')).toEqual(['x', 'y', 'z']);
    expect(await store.client.exists(`${prefix}cl:old`)).toBe(0);
    const value = await store.client.getBuffer(`${prefix}u:old`);
    expect(value?.length).toBeGreaterThan(userBytes(4));
    expect(await store.client.pttl(`${prefix}u:old`)).toBeGreaterThan(50_000);
    // A batch of the user without clicks keeps them.
    expect(await store.commit({ partition: 'g/fold/0', expectedOffset: '1', nextOffset: '2', effects: effects('old', []), analytics: undefined })).toBe(true);
    expect(await store.getClicked('old')).toEqual(['x', 'y', 'z']);
    await store.close();
  });

  it("writes the rest of a batch when a user's stored clicked items do not parse, and starts that user's again", async () => {
    const prefix = `${uniqueName('garbled')}:`;
    const store = new RedisStateStore({ url: url as string, prefix, dimensions: 4 });
    // A record and a header that claims five items, with none after it.
    const header = Buffer.alloc(11);
    header.writeUInt8(1, 0);
    header.writeUInt16LE(4, 1);
    header.writeUInt32LE(5, 3);
    await store.client.set(`${prefix}u:bad`, Buffer.concat([encodeUser({ ts: 1, count: 1, vec: new Float32Array(4) }), header]));
    const batch = effects('good', []);
    batch.users.set('bad', { ts: 1000, count: 2, vec: Float32Array.from([1, 0, 0, 0]) });
    batch.clicked = new Map([['good', new Map([['x', 100]])], ['bad', new Map([['y', 100]])]]);
    expect(await store.commit({ partition: 'g/garbled/0', expectedOffset: null, nextOffset: '1', effects: batch, analytics: undefined })).toBe(true);
    expect(await store.getClicked('good')).toEqual(['x']);
    expect(await store.getClicked('bad')).toEqual(['y']);
    expect((await store.getUser('bad'))?.count).toBe(2);
    expect(await store.readOffset('g/garbled/0')).toBe('1');
    await store.close();
  });

  it('cuts a list past its cap back to the cap only once it holds the slack more', async () => {
    const prefix = `${uniqueName('slack')}:`;
    const store = new RedisStateStore({ url: url as string, prefix, dimensions: 4, clickedMax: 20 });
    // The slack at a cap of 20 is 16 (at least 16, else an eighth of the cap).
    const stored = async () => (await store.client.getBuffer(`${prefix}u:s`))?.readUInt32LE(userBytes(4) + 3);
    for (let b = 0; b < 5; b++) {
      const batch = effects('s', []);
      batch.clicked = new Map([['s', new Map(Array.from({ length: 8 }, (_, n) => [`b${b}-${n}`, b * 10 + n] as [string, number]))]]);
      expect(await store.commit({ partition: 'g/slack/0', expectedOffset: b === 0 ? null : String(b), nextOffset: String(b + 1), effects: batch, analytics: undefined })).toBe(true);
      expect(await store.getClicked('s')).toHaveLength(Math.min(20, 8 * (b + 1)));
      expect((await store.getClicked('s'))[0]).toBe(`b${b}-7`);
      // 8, 16, 24 and 32 stored (within 20 + 16); the fifth batch made 40: cut back to 20.
      expect(await stored()).toBe([8, 16, 24, 32, 20][b]);
    }
    // A new user's batch of more than the cap is stored at the cap.
    const many = effects('t', []);
    many.clicked = new Map([['t', new Map(Array.from({ length: 100 }, (_, n) => [`t${n}`, n] as [string, number]))]]);
    expect(await store.commit({ partition: 'g/slack/1', expectedOffset: null, nextOffset: '1', effects: many, analytics: undefined })).toBe(true);
    expect((await store.client.getBuffer(`${prefix}u:t`))?.readUInt32LE(userBytes(4) + 3)).toBe(20);
    expect((await store.getClicked('t'))[0]).toBe('t99');
    await store.close();
  });

  it("moves an item's totals from an earlier version's counter hash into its record at its next write", async () => {
    const prefix = `${uniqueName('totals')}:`;
    const store = new RedisStateStore({ url: url as string, prefix, dimensions: 4 });
    // As an earlier version left it: the record alone, the totals in a hash.
    await store.client.set(`${prefix}i:old`, encodeItem(item(2)));
    await store.client.hset(`${prefix}ic:old`, 'views', 7, 'clicks', 2);
    expect(await store.getItemCounts('old')).toEqual({ views: 7, clicks: 2 });
    const stored = (await store.loadSnapshot([], ['old'])).items.get('old');
    expect(stored).toMatchObject({ clicks: 2 });

    const batch = effects('u', ['old', 'new']);
    batch.itemBases = new Map([['old', { record: stored!, stored: true }], ['new', { record: item(0), stored: false }]]);
    batch.counts = new Map([['old', { views: 3, clicks: 1 }], ['new', { views: 1, clicks: 0 }]]);
    expect(await store.commit({ partition: 'g/totals/0', expectedOffset: null, nextOffset: '1', effects: batch, analytics: undefined })).toBe(true);
    expect(await store.getItemCounts('old')).toEqual({ views: 10, clicks: 3 });
    expect(await store.getItemCounts('new')).toEqual({ views: 1, clicks: 0 });
    expect(await store.client.exists(`${prefix}ic:old`)).toBe(0);
    expect(await store.client.strlen(`${prefix}i:old`)).toBe(itemBytes(4) + ITEM_TOTALS_BYTES);
    // The record itself reads as before, and a batch that only replaces it keeps the totals.
    expect(await store.getItem('old')).toMatchObject({ ts: 1000, bias: 0.1, clicks: 1 });
    const replace = effects('u', ['old']);
    replace.counts = new Map();
    expect(await store.commit({ partition: 'g/totals/0', expectedOffset: '1', nextOffset: '2', effects: replace, analytics: undefined })).toBe(true);
    expect(await store.getItemCounts('old')).toEqual({ views: 10, clicks: 3 });
    await store.client.del(`${prefix}i:old`, `${prefix}i:new`, `${prefix}iseq`, `${prefix}off`, `${prefix}cl:u`, `${prefix}u:u`, `${prefix}trend`, `${prefix}seq`, `${prefix}clock`);
    await store.close();
  });

  describe('key expiry', () => {
    const prefix = `${uniqueName('ttl')}:`;
    const store = new RedisStateStore({ url: url as string, prefix, dimensions: 4, ttl: { userMs: 60_000, itemMs: 400 } });
    afterAll(() => store.close());
    const commit = (partition: string, user: string, items: string[], contents: string[] = []) =>
      store.commit({
        partition,
        expectedOffset: null,
        nextOffset: '1',
        effects: effects(user, items),
        analytics: undefined,
        contents: contents.map((itemId) => ({ itemId, publishedAt: 1000 })),
        push: { users: new Map([[user, { sends: 1, opens: 0 }]]), openers: new Map(), active: new Map() },
      });

    it('gives per-user keys and content the configured time to live; item records and counters are swept instead', async () => {
      expect(await commit('g/t/0', 'u1', ['a', 'b'], ['a'])).toBe(true);
      const ttl = async (key: string) => store.client.pttl(`${prefix}${key}`);
      for (const key of ['u:u1', 'push:stat:u1']) {
        expect(await ttl(key)).toBeGreaterThan(50_000);
        expect(await ttl(key)).toBeLessThanOrEqual(60_000);
      }
      // The clicked items are in the user's value, not in a key of their own.
      expect(await store.getClicked('u1')).toEqual(['b', 'a']);
      expect(await store.client.exists(`${prefix}cl:u1`)).toBe(0);
      expect(await ttl('meta:a')).toBeGreaterThan(0);
      expect(await ttl('meta:a')).toBeLessThanOrEqual(400);
      // Removed by a later commit's sweep of the change sequence (next test). The exact totals
      // are in the record, not in keys of their own.
      for (const key of ['i:a', 'i:b']) expect(await ttl(key)).toBe(-1);
      expect(await store.client.exists(`${prefix}ic:a`, `${prefix}ic:b`)).toBe(0);
      // Shared keys never expire.
      for (const key of ['off', 'iseq', 'trend', 'clock']) expect(await ttl(key)).toBe(-1);
    });

    it('drops expired items from the change sequence, trending and fresh content, and deletes their keys', async () => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await store.getContent('a')).toBeUndefined();
      // Written 600 ms ago with a 400 ms TTL: still stored until a commit sweeps them.
      expect(await store.getItem('a')).toBeDefined();
      expect(await commit('g/t/1', 'u2', ['c'], ['c'])).toBe(true);
      for (const id of ['a', 'b']) {
        expect(await store.getItem(id)).toBeUndefined();
        expect(await store.client.exists(`${prefix}i:${id}`, `${prefix}ic:${id}`)).toBe(0);
      }
      expect(await store.getItemCounts('c')).toEqual({ views: 1, clicks: 1 });
      const changes = await store.itemsChangedSince(0);
      expect(changes.items.map(([id]) => id)).toEqual(['c']);
      const [, , writtenAt] = changes.items[0]!;
      expect(Math.abs(writtenAt - Date.now())).toBeLessThan(5_000);
      expect(await store.client.zrange(`${prefix}iseq`, 0, -1)).toEqual(['c']);
      expect((await store.trending(TRENDING_CAP)).map((s) => s.id)).toEqual(['c']);
      expect((await store.freshContent(0, 10)).map((c) => c.itemId)).toEqual(['c']);
      expect(await store.client.zrange(`${prefix}pub`, 0, -1)).toEqual(['c']);
      // The user keys are still there.
      expect(await store.getUser('u1')).toBeDefined();
    });

    it("drops users not active for the user TTL, in event time, from the push loop's active set", async () => {
      const active = (partition: string, user: string, ts: number) =>
        store.commit({
          partition,
          expectedOffset: null,
          nextOffset: '1',
          effects: { ...effects(user, []), clock: ts },
          analytics: undefined,
          push: { users: new Map(), openers: new Map(), active: new Map([[user, ts]]) },
        });
      expect(await active('g/active/0', 'dormant', 1_000)).toBe(true);
      expect(await active('g/active/1', 'recent', 30_000)).toBe(true);
      expect(await store.client.zrange(`${prefix}push:active`, 0, -1)).toEqual(expect.arrayContaining(['dormant', 'recent']));
      // 70 s of event time later: 'dormant' was last active 69 s before, past the 60 s TTL.
      expect(await active('g/active/2', 'later', 70_000)).toBe(true);
      expect(await store.client.zrange(`${prefix}push:active`, 0, -1)).toEqual(['recent', 'later']);
      // A batch dated a year ahead trims by Redis's clock, not its own: users active now stay.
      const now = Date.now();
      expect(await active('g/active/3', 'now', now)).toBe(true);
      expect(await active('g/active/4', 'ahead', now + 365 * 86_400_000)).toBe(true);
      expect(await store.client.zrange(`${prefix}push:active`, 0, -1)).toEqual(['now', 'ahead']);
    });

    it('starts an expired item again from nothing when it comes back before a sweep removed it', async () => {
      expect(await commit('g/back/0', 'u4', ['back'])).toBe(true);
      expect(await store.getItemCounts('back')).toEqual({ views: 1, clicks: 1 });
      // Expired, and no other commit has run since: its keys are still there.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await store.client.exists(`${prefix}i:back`)).toBe(1);
      expect((await store.loadSnapshot([], ['back'])).items.size).toBe(0);
      const viewed = effects('u4', ['back']);
      viewed.counts = new Map([['back', { views: 1, clicks: 0 }]]);
      viewed.items = new Map([['back', { ...item(0), views: 1 }]]);
      viewed.itemBases = new Map([['back', { record: item(0), stored: false }]]);
      const ok = await store.commit({ partition: 'g/back/1', expectedOffset: null, nextOffset: '1', effects: viewed, analytics: undefined });
      expect(ok).toBe(true);
      expect(await store.getItemCounts('back')).toEqual({ views: 1, clicks: 0 });
      expect(await store.getItem('back')).toMatchObject({ clicks: 0, views: 1 });
      expect((await store.trending(TRENDING_CAP)).map((s) => s.id)).not.toContain('back');
    });

    it('judges expiry at commit by the time the batch was read, as the read did', async () => {
      expect(await commit('g/slow/0', 'u5', ['slow'])).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 250));
      const readAt = Date.now();
      const snapshot = await store.loadSnapshot([], ['slow'], readAt);
      expect(snapshot.items.has('slow')).toBe(true);
      // A slow batch: by its commit the item is past its TTL, but it was alive when read.
      await new Promise((resolve) => setTimeout(resolve, 250));
      const batch = effects('u5', ['slow']);
      batch.itemBases = new Map([['slow', { record: snapshot.items.get('slow')!, stored: true }]]);
      const ok = await store.commit({ partition: 'g/slow/1', expectedOffset: null, nextOffset: '1', effects: batch, analytics: undefined, readAt });
      expect(ok).toBe(true);
      expect(await store.getItemCounts('slow')).toEqual({ views: 2, clicks: 2 });
    });

    it('sweeps at most 1,000 expired items a commit, oldest first, and the rest with the commits that follow', async () => {
      // 'c', written by the test before, expires first; then 1,500 items written at once.
      const many = Array.from({ length: 1_500 }, (_, n) => `m${n}`);
      expect(await commit('g/t/2', 'u3', many)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 600));
      const inSequence = async (ids: string[]) =>
        (await store.client.zmscore(`${prefix}iseq`, ...ids)).filter((score) => score !== null).length;
      const stored = async (ids: string[]) => store.client.exists(...ids.map((id) => `${prefix}i:${id}`));
      expect(await commit('g/t/3', 'u3', ['d'])).toBe(true);
      expect([await inSequence(['c']), await stored(['c'])]).toEqual([0, 0]);
      expect([await inSequence(many), await stored(many)]).toEqual([501, 501]);
      expect(await commit('g/t/4', 'u3', ['e'])).toBe(true);
      expect([await inSequence(many), await stored(many)]).toEqual([0, 0]);
      expect([await inSequence(['d', 'e']), await stored(['d', 'e'])]).toEqual([2, 2]);
    });
  });

  it('reads no more outbox entries for an analytics write than its row bound can take', async () => {
    const store = new RedisStateStore({ url: url as string, prefix: `${uniqueName('outbox')}:`, dimensions: 4 });
    // 40 batches of 1,000 rows each, as a backlog leaves them.
    const ids = await fillOutbox(store, 40, 500);
    let entries = 0;
    const hscan = store.client.hscan.bind(store.client);
    store.client.hscan = (async (...args: Parameters<typeof hscan>) => {
      const reply = await hscan(...args);
      entries += reply[1].length / 2;
      return reply;
    }) as typeof store.client.hscan;
    const written: string[] = [];
    for (let write = 0; write < 10; write++) {
      const batches = await store.pendingAnalytics(5000, 3000);
      // Three batches' rows fit the bound; the write takes exactly those.
      expect(batches.map((b) => b.rows.length + (b.users?.length ?? 0))).toEqual([1000, 1000, 1000]);
      written.push(...batches.map((b) => b.batchId));
      await store.ackAnalytics(batches.map((b) => b.batchId));
    }
    expect(new Set(written).size).toBe(30);
    // A reply holds a few entries more than asked for at times (a hash bucket's chain comes whole),
    // but not the whole outbox: 64 entries were asked for at each write before.
    expect(entries).toBeLessThan(10 * 3 * 2);
    expect(await store.pendingAnalyticsCount()).toBe(10);
    store.client.hscan = hscan;
    await store.ackAnalytics(ids);
    await store.close();
  });

  it('drains a backlog of outbox entries in about one round trip a write', async () => {
    const store = new RedisStateStore({ url: url as string, prefix: `${uniqueName('drain')}:`, dimensions: 4 });
    const ids = await fillOutbox(store, 600, 100);
    let calls = 0;
    const hscan = store.client.hscan.bind(store.client);
    store.client.hscan = ((...args: Parameters<typeof hscan>) => {
      calls++;
      return hscan(...args);
    }) as typeof store.client.hscan;
    // As the flusher drains: writes of three entries' rows, each acknowledged before the next.
    const written: string[] = [];
    let writes = 0;
    for (let pending = await store.pendingAnalyticsCount(); pending > 0; pending = await store.pendingAnalyticsCount()) {
      const batches = await store.pendingAnalytics(5000, 600);
      expect(batches).toHaveLength(3);
      written.push(...batches.map((b) => b.batchId));
      await store.ackAnalytics(batches.map((b) => b.batchId));
      writes++;
    }
    expect(written.sort()).toEqual(ids);
    // Each write starting its scan from the outbox's start stepped over the slots the writes
    // before it had emptied: about seven times as many round trips here, and growing with the
    // square of the backlog.
    expect(writes).toBe(200);
    expect(calls).toBeLessThan(writes * 1.5);
    store.client.hscan = hscan;
    await store.close();
  });
});
