import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';

describe('event intake over HTTP (embedded)', () => {
  let engine: Engine;

  beforeAll(async () => {
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', MAX_EVENT_FUTURE_MS: '60000', MAX_PENDING_EVENTS: '100' });
    engine = createEngine(config, pino({ level: 'silent' }));
    await engine.start();
  });
  afterAll(async () => {
    await engine.stop();
  });

  const post = (events: unknown[]) =>
    engine.api.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(events) });

  it('refuses an event dated too far ahead in its answer, naming ts, and applies the rest', async () => {
    const now = Date.now();
    const response = await post([
      { type: 'click', userId: 'u1', itemId: 'present', ts: now },
      { type: 'click', userId: 'u1', itemId: 'future', ts: now + 3_600_000 },
    ]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      accepted: 1,
      rejected: 1,
      errors: [{ index: 1, field: 'ts', reason: 'ts is more than 60000 ms ahead of the clock' }],
    });
    expect((await engine.api.inject({ url: '/v1/items/present/stats' })).json()).toMatchObject({ clicks: 1 });
    expect((await engine.api.inject({ url: '/v1/items/future/stats' })).statusCode).toBe(404);
  });

  it('answers 413, not a retry, to more valid events than the input bound holds', async () => {
    const now = Date.now();
    const events = Array.from({ length: 101 }, (_, i) => ({ type: 'view', userId: `u${i}`, itemId: 'big', ts: now }));
    const response = await post(events);
    expect(response.statusCode).toBe(413);
    expect(response.headers['retry-after']).toBeUndefined();
    expect(response.json()).toEqual({
      error: {
        code: 'request_invalid',
        field: 'body',
        message: '101 valid events exceed the input bound of 100 (MAX_PENDING_EVENTS): send at most 100 a request',
      },
    });
    expect((await post(events.slice(0, 100))).statusCode).toBe(200);
  });

  it('answers an unknown route with the error shape of every other error', async () => {
    const response = await engine.api.inject({ url: '/v1/nothing?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /v1/nothing' } });
  });
});
