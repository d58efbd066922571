import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import { eventually } from '../support/scenarios.ts';
import { deletePrefix, service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');

describe.skipIf(url === undefined)('engine: expiry while the input is quiet', () => {
  const prefix = `${uniqueName('quiet')}:`;
  let engine: Engine;
  let client: Redis;

  beforeAll(async () => {
    client = new Redis(url as string);
    const env = { PORT: '0', HOST: '127.0.0.1', REDIS_URL: url as string, REDIS_PREFIX: prefix, ITEM_TTL_MS: '1500' };
    engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
    await engine.start();
  });

  afterAll(async () => {
    await engine.stop();
    await deletePrefix(client, prefix);
    client.disconnect();
  });

  it('deletes the keys of items not written for ITEM_TTL_MS with no event after them', async () => {
    const now = Date.now();
    const events = ['a', 'b', 'c'].flatMap((itemId, n) => [
      { type: 'view', userId: `u${n}`, itemId, ts: now },
      { type: 'click', userId: `u${n}`, itemId, ts: now + 1 },
    ]);
    const posted = await engine.api.inject({ method: 'POST', url: '/v1/events', payload: JSON.stringify(events) });
    expect(posted.statusCode).toBe(200);
    const items = async () => client.exists(...['a', 'b', 'c'].map((id) => `${prefix}i:${id}`));
    await eventually(async () => (await items()) === 3, 5_000, 'the items to be stored');
    expect(await client.zcard(`${prefix}trend`)).toBe(3);
    // No event follows, so no commit sweeps: the engine's own sweep has to.
    await eventually(async () => (await items()) === 0, 8_000, 'the expired items to be deleted');
    expect([await client.zcard(`${prefix}iseq`), await client.zcard(`${prefix}trend`)]).toEqual([0, 0]);
  }, 20_000);
});
