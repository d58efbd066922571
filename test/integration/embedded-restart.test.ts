import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine } from '../../src/engine.ts';
import { deletePrefix, service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');

/**
 * HTTP input (no Kafka) with state in Redis: the stored offset of the HTTP input outlives the
 * process, so a restarted engine must number its events after it, or it skips them as replays.
 */
describe.skipIf(url === undefined)('engine: HTTP input with Redis state across a restart', () => {
  const prefix = `${uniqueName('restart')}:`;
  const client = new Redis(url as string);
  afterAll(async () => {
    await deletePrefix(client, prefix);
    client.disconnect();
  });

  async function run(itemId: string, events: number): Promise<number> {
    const env = { PORT: '0', HOST: '127.0.0.1', REDIS_URL: url as string, REDIS_PREFIX: prefix };
    const engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
    await engine.start();
    try {
      const now = Date.now();
      const payload = Array.from({ length: events }, (_, n) => ({ type: 'click', userId: `u${n}`, itemId, ts: now + n }));
      const posted = await engine.api.inject({ method: 'POST', url: '/v1/events', payload: JSON.stringify(payload) });
      expect(posted.json()).toMatchObject({ accepted: events, rejected: 0 });
      return (await engine.store.getItemCounts(itemId)).clicks;
    } finally {
      await engine.stop();
    }
  }

  it('applies the events posted after a restart', async () => {
    expect(await run('first', 30)).toBe(30);
    expect(await client.hget(`${prefix}off`, 'embedded/http/0')).toBe('30');
    expect(await run('second', 20)).toBe(20);
    expect(await client.hget(`${prefix}off`, 'embedded/http/0')).toBe('50');
  }, 30_000);

  it('applies the contents posted after a restart, numbered on in their own input', async () => {
    const env = { PORT: '0', HOST: '127.0.0.1', REDIS_URL: url as string, REDIS_PREFIX: `${prefix}contents:` };
    const publish = async (itemIds: string[]) => {
      const engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
      await engine.start();
      try {
        const payload = itemIds.map((itemId) => ({ itemId, publishedAt: Date.now() }));
        const posted = await engine.api.inject({ method: 'POST', url: '/v1/contents', payload: JSON.stringify(payload) });
        expect(posted.json()).toMatchObject({ accepted: itemIds.length, rejected: 0 });
        return (await engine.store.getContents(itemIds)).map((c) => c?.itemId);
      } finally {
        await engine.stop();
      }
    };
    expect(await publish(['n1', 'n2'])).toEqual(['n1', 'n2']);
    expect(await publish(['n3'])).toEqual(['n3']);
    expect(await client.hget(`${prefix}contents:off`, 'embedded/http-contents/0')).toBe('3');
    expect(await client.hget(`${prefix}contents:off`, 'embedded/http/0')).toBeNull();
  }, 30_000);

  it('refuses, as retryable, the events of a batch that a second engine on the same state fenced, then applies again', async () => {
    const env = { PORT: '0', HOST: '127.0.0.1', REDIS_URL: url as string, REDIS_PREFIX: `${prefix}two:` };
    const [a, b] = [createEngine(loadConfig(env), pino({ level: 'silent' })), createEngine(loadConfig(env), pino({ level: 'silent' }))];
    await a.start();
    await b.start();
    try {
      const post = (engine: typeof a, itemId: string) =>
        engine.api.inject({ method: 'POST', url: '/v1/events', payload: JSON.stringify([{ type: 'click', userId: 'u', itemId, ts: Date.now() }]) });
      // Each engine reads the stored offset before its first batch: b numbers on after a's event.
      expect((await post(a, 'a1')).statusCode).toBe(200);
      expect((await post(b, 'b1')).statusCode).toBe(200);
      // a still believes its own offset is the stored one: fenced once, then it reads it again.
      const fenced = await post(a, 'a2');
      expect(fenced.statusCode).toBe(503);
      expect(fenced.json()).toMatchObject({ error: { code: 'state_fenced' } });
      expect((await post(a, 'a3')).statusCode).toBe(200);
      const clicks = async (id: string) => (await a.store.getItemCounts(id)).clicks;
      const ids = ['a1', 'b1', 'a2', 'a3'];
      expect(await Promise.all(ids.map(clicks))).toEqual([1, 1, 0, 1]);
      expect(await client.hget(`${prefix}two:off`, 'embedded/http/0')).toBe('3');
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 30_000);
});
