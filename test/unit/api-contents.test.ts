import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import { eventually } from '../support/scenarios.ts';

describe('content events over HTTP, embedded', () => {
  let engine: Engine;

  beforeAll(async () => {
    const env = { PORT: '0', HOST: '127.0.0.1', PUSH_ENABLED: 'true', PUSH_DELAY_MS: '0', PUSH_TICK_MS: '100' };
    engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
    await engine.start();
  });
  afterAll(async () => {
    await engine.stop();
  });

  const post = (payload: string, contentType = 'application/json') =>
    engine.api.inject({ method: 'POST', url: '/v1/contents', headers: { 'content-type': contentType }, payload });

  it('stores the valid contents once applied, and rejects the others naming the field', async () => {
    const now = Date.now();
    const answer = await post(
      JSON.stringify([
        { itemId: 'c1', publishedAt: now, category: 'news', title: 'First', ttlSeconds: 3600 },
        { itemId: 'c2' },
        { itemId: 'c3', publishedAt: new Date(now).toISOString() },
        { itemId: 'c4', publishedAt: now, ttlSeconds: 0 },
      ]),
    );
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({
      accepted: 2,
      rejected: 2,
      errors: [
        { index: 1, field: 'publishedAt', reason: 'publishedAt is required and must be epoch milliseconds, or an ISO-8601 date-time with a zone (Z or ±hh:mm)' },
        { index: 3, field: 'ttlSeconds', reason: 'ttlSeconds must be an integer from 1 to 31536000 (365 days)' },
      ],
    });
    // Answered once applied: the contents are in the state already.
    expect(await engine.store.getContent('c1')).toEqual({ itemId: 'c1', publishedAt: now, category: 'news', title: 'First', ttlSeconds: 3600 });
    expect(await engine.store.getContent('c3')).toEqual({ itemId: 'c3', publishedAt: now });
    expect(await engine.store.getContent('c2')).toBeUndefined();
  });

  it('refuses a content published more than MAX_EVENT_FUTURE_MS ahead, which would crowd out the fresh ones', async () => {
    const answer = await post(JSON.stringify({ itemId: 'ahead', publishedAt: '2199-01-01T00:00:00Z' }));
    expect(answer.json()).toEqual({
      accepted: 0,
      rejected: 1,
      errors: [{ index: 0, field: 'publishedAt', reason: 'publishedAt is more than 300000 ms ahead of the clock' }],
    });
    expect(await engine.store.getContent('ahead')).toBeUndefined();
  });

  it('refuses a lifetime over a year, which no date could end', async () => {
    const answer = await post(JSON.stringify({ itemId: 'long', publishedAt: Date.now(), ttlSeconds: 365 * 86_400 + 1 }));
    expect(answer.json()).toMatchObject({ accepted: 0, errors: [{ index: 0, field: 'ttlSeconds' }] });
    const year = await post(JSON.stringify({ itemId: 'year', publishedAt: Date.now(), ttlSeconds: 365 * 86_400 }));
    expect(year.json()).toMatchObject({ accepted: 1 });
  });

  it('takes NDJSON (blank lines skipped, indexes by line) and one object over several lines, and answers 400 for a body that is not JSON', async () => {
    const later = Date.now();
    const answer = await post(`{"itemId":"c5","publishedAt":${later}}\n\n{"itemId":`, 'application/x-ndjson');
    expect(answer.json()).toEqual({ accepted: 1, rejected: 1, errors: [{ index: 2, field: '$', reason: 'line is not valid JSON' }] });
    expect((await engine.store.getContent('c5'))?.publishedAt).toBe(later);
    const pretty = await post(JSON.stringify({ itemId: 'c6', publishedAt: later }, null, 2));
    expect(pretty.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
    // The same object broken is one bad body, not a bad line each.
    const broken = await post(JSON.stringify({ itemId: 'c6', publishedAt: later }, null, 2).slice(0, -2));
    expect([broken.statusCode, broken.json()]).toEqual([400, { error: { code: 'request_invalid', field: 'body', message: 'body is not valid JSON' } }]);
    expect((await engine.store.getContent('c6'))?.publishedAt).toBe(later);
    const bad = await post('[{"itemId":');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'request_invalid', field: 'body' } });
  });

  it('starts a push campaign for a content posted, with no Kafka', async () => {
    await eventually(
      async () => (await engine.api.inject({ url: '/v1/campaigns' })).json().campaigns.some((c: { itemId: string }) => c.itemId === 'c1'),
      5_000,
      'a campaign for c1',
    );
  });

  it('describes the route in the OpenAPI document', async () => {
    const document = (await engine.api.inject({ url: '/openapi.json' })).json();
    expect(document.paths['/v1/contents'].post.operationId).toBe('submitContents');
  });
});
