import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine } from '../../src/engine.ts';
import { encodeUser } from '../../src/model/records.ts';
import { foldClickedLayout } from '../../src/state/migrate.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import { service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');

describe.skipIf(url === undefined)('clicked items of the earlier layout', () => {
  const redis = new Redis(url as string);
  afterAll(() => redis.quit());

  it('are moved into one record per user, timed clicks first, TTLs kept, and the prefix marked done', async () => {
    const prefix = `${uniqueName('fold')}:`;
    const store = new RedisStateStore({ url: url as string, prefix, dimensions: 4, clickedMax: 4 });
    // u1: a set and its recent clicks with times; u2: a set only, with a TTL; u3: already has a
    // current record with a later click; u4: more items than the cap.
    await redis.sadd(`${prefix}clk:u1`, 'a', 'b', 'c');
    await redis.zadd(`${prefix}rc:u1`, 50, 'b', 40, 'c');
    await redis.sadd(`${prefix}clk:u2`, 'x', 'y');
    await redis.pexpire(`${prefix}clk:u2`, 100_000);
    await redis.sadd(`${prefix}clk:u3`, 'p', 'q');
    await redis.zadd(`${prefix}rc:u3`, 10, 'q');
    await redis.zadd(`${prefix}cl:u3`, 99, 'q', 90, 'r');
    await redis.sadd(`${prefix}clk:u4`, ...Array.from({ length: 3_000 }, (_, n) => `m${String(n).padStart(4, '0')}`));
    await redis.zadd(`${prefix}rc:u4`, 7, 'm0001');
    // u5: a current key of another type, left alone.
    await redis.sadd(`${prefix}clk:u5`, 'k');
    await redis.set(`${prefix}cl:u5`, 'not a zset');
    // Each with its model record, as that layout kept it: bare, the clicked items in keys of their own.
    for (const u of ['u1', 'u2', 'u3', 'u4']) await redis.set(`${prefix}u:${u}`, encodeUser({ ts: 1, count: 1, vec: new Float32Array(4) }));
    // And the offsets its commits stored.
    await redis.hset(`${prefix}off`, 'g/events/0', '10');

    const logger = pino({ level: 'silent' });
    expect(await foldClickedLayout(redis, prefix, 4, logger)).toBe(4);
    expect(await store.getClicked('u1')).toEqual(['b', 'c', 'a']);
    expect(await store.getClicked('u2')).toEqual(['y', 'x']);
    expect(await redis.pttl(`${prefix}cl:u2`)).toBeGreaterThan(90_000);
    expect(await redis.pttl(`${prefix}cl:u1`)).toBe(-1);
    expect(await store.getClicked('u3')).toEqual(['q', 'r', 'p']);
    // The timed click, then three of the set's 3,000 (all at time 0, so any three).
    const u4 = await store.getClicked('u4');
    expect(u4).toHaveLength(4);
    expect(u4[0]).toBe('m0001');
    expect(new Set(u4).size).toBe(4);
    for (const id of u4) expect(id).toMatch(/^m\d{4}$/);
    expect(await redis.exists(...['u1', 'u2', 'u3', 'u4'].flatMap((u) => [`${prefix}clk:${u}`, `${prefix}rc:${u}`]))).toBe(0);
    expect(await redis.smembers(`${prefix}clk:u5`)).toEqual(['k']);
    expect(await redis.get(`${prefix}cl:u5`)).toBe('not a zset');

    // Marked done: a later start does not scan again, even if an old key turns up.
    await redis.sadd(`${prefix}clk:late`, 'z');
    expect(await foldClickedLayout(redis, prefix, 4, logger)).toBe(0);
    expect(await redis.exists(`${prefix}clk:late`)).toBe(1);
    await store.close();
  });

  it('read only the keys of their own prefix, glob characters in it included', async () => {
    const base = uniqueName('glob');
    const [own, other] = [`${base}[ab]*:`, `${base}a:`];
    await redis.sadd(`${own}clk:u`, 'x');
    await redis.sadd(`${other}clk:u`, 'y');
    await redis.hset(`${own}off`, 'g/events/0', '1');
    expect(await foldClickedLayout(redis, own, 10, pino({ level: 'silent' }))).toBe(1);
    expect(await redis.zrange(`${own}cl:u`, 0, -1)).toEqual(['x']);
    expect(await redis.smembers(`${other}clk:u`)).toEqual(['y']);
    expect(await redis.exists(`${other}cl:u`)).toBe(0);
  });

  it('are not looked for under a prefix where nothing was ever committed', async () => {
    const prefix = `${uniqueName('fresh')}:`;
    // No offsets: a stray key of that name is not from an earlier layout's commit.
    await redis.sadd(`${prefix}clk:u`, 'x');
    expect(await foldClickedLayout(redis, prefix, 10, pino({ level: 'silent' }))).toBe(0);
    expect(await redis.get(`${prefix}layout:clicked`)).toBe('1');
    expect(await redis.smembers(`${prefix}clk:u`)).toEqual(['x']);
  });

  describe('at the start of an engine whose Redis user may not SCAN', () => {
    const user = uniqueName('noscan').replace(/[^A-Za-z0-9_-]/g, '_');
    const limited = () => {
      const address = new URL(url as string);
      address.username = user;
      address.password = 'pw';
      return address.toString();
    };
    const start = async (prefix: string) => {
      const env = { PORT: '0', HOST: '127.0.0.1', REDIS_URL: limited(), REDIS_PREFIX: prefix };
      const engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
      return { engine, started: engine.start() };
    };
    beforeAll(async () => {
      await redis.call('ACL', 'SETUSER', user, 'on', '>pw', '~*', '&*', '+@all', '-scan');
    });
    afterAll(async () => {
      await redis.call('ACL', 'DELUSER', user);
    });

    it('start on a fresh prefix, which needs no scan', async () => {
      const { engine, started } = await start(`${uniqueName('fresh')}:`);
      try {
        await expect(started).resolves.toMatch(/^http:/);
      } finally {
        await engine.stop();
      }
    });

    it('refuse to start, naming the refusal, where keys of the earlier layout may remain', async () => {
      const prefix = `${uniqueName('old')}:`;
      await redis.hset(`${prefix}off`, 'g/events/0', '10');
      await redis.sadd(`${prefix}clk:u`, 'x');
      const { engine, started } = await start(prefix);
      await expect(started).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('NOPERM') });
      await engine.stop();
      expect(await redis.smembers(`${prefix}clk:u`)).toEqual(['x']);
    });
  });
});
