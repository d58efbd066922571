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

  it('refuses a body that is not UTF-8 whole, or is too large, naming the body', async () => {
    const now = Date.now();
    for (const bad of [Buffer.from([0x78, 0xff]), Buffer.from([0x78, 0xed, 0xa0, 0x80])]) {
      const body = Buffer.concat([Buffer.from(`[{"type":"click","userId":"`), bad, Buffer.from(`","itemId":"utf8","ts":${now}}]`)]);
      const response = await engine.api.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: body });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: { code: 'request_invalid', field: 'body', message: 'body is not valid UTF-8' } });
    }
    expect((await engine.api.inject({ url: '/v1/items/utf8/stats' })).statusCode).toBe(404);
    const huge = await engine.api.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: ' '.repeat(33 * 2 ** 20) });
    expect(huge.statusCode).toBe(413);
    expect(huge.json()).toMatchObject({ error: { code: 'request_invalid', field: 'body' } });
    // A request for no route is answered 404, whatever its body holds.
    for (const [method, url] of [['POST', '/v1/nope'], ['POST', '/v1/items/x/stats'], ['DELETE', '/v1/items/x/stats']] as const) {
      const lost = await engine.api.inject({ method, url, headers: { 'content-type': 'application/json' }, payload: Buffer.from([0xff]) });
      expect(lost.statusCode).toBe(404);
    }
    // A declared charset other than UTF-8 is refused, naming the header.
    const latin1 = await engine.api.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/json; charset=iso-8859-1' },
      payload: Buffer.from(`[{"type":"click","userId":"m\xfcller","itemId":"utf8","ts":${now}}]`, 'latin1'),
    });
    expect(latin1.statusCode).toBe(415);
    expect(latin1.json()).toEqual({ error: { code: 'request_invalid', field: 'content-type', message: 'charset iso-8859-1 is not supported: send UTF-8' } });
    const declared = await engine.api.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/json; charset="UTF-8"' },
      payload: JSON.stringify([{ type: 'view', userId: 'declared', itemId: 'utf8-declared', ts: now }]),
    });
    expect(declared.json()).toMatchObject({ accepted: 1 });
    // Multi-byte characters that are UTF-8 pass.
    expect((await post([{ type: 'click', userId: 'ü\u{1F600}', itemId: 'utf8', ts: now }])).json()).toMatchObject({ accepted: 1 });
  });

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

  it('counts the invalid events of a request it takes, not of one it turns away', async () => {
    const rejectedTypes = async () => {
      const text = (await engine.api.inject({ url: '/metrics' })).body;
      return Number(/^freshet_events_rejected_total\{field="type"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const before = await rejectedTypes();
    const now = Date.now();
    const valid = Array.from({ length: 101 }, (_, i) => ({ type: 'view', userId: `m${i}`, itemId: 'counted', ts: now }));
    const invalid = { type: 'like', userId: 'm', itemId: 'counted', ts: now };
    expect((await post([...valid, invalid])).statusCode).toBe(413);
    expect(await rejectedTypes()).toBe(before);
    expect((await post([valid[0], invalid])).statusCode).toBe(200);
    expect(await rejectedTypes()).toBe(before + 1);
  });

  it('answers an unknown route with the error shape of every other error', async () => {
    const response = await engine.api.inject({ url: '/v1/nothing?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /v1/nothing' } });
  });
});
