import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import type { InteractionEvent } from '../../src/events/schema.ts';
import { readMovieLens } from '../../src/sources/datasets.ts';
import { datasetFile } from '../support/datasets.ts';

const file = datasetFile('movielens-100k', 'u.data');

describe.skipIf(file === undefined)('embedded engine over HTTP', () => {
  let engine: Engine;
  let events: InteractionEvent[];

  beforeAll(async () => {
    engine = createEngine(loadConfig({ PORT: '0', HOST: '127.0.0.1', MAX_EVENT_FUTURE_MS: '60000' }), pino({ level: 'silent' }));
    await engine.start();
    events = (await readMovieLens(file as string)).slice(0, 5000);
  });
  afterAll(async () => {
    await engine.stop();
  });

  it('accepts the 5,000 earliest MovieLens events and rejects invalid ones naming the field', async () => {
    const invalid = [
      { type: 'click', itemId: '1', ts: 874724710000 },
      { type: 'click', userId: '1', itemId: '', ts: 874724710000 },
      { type: 'purchase', userId: '1', itemId: '1', ts: 874724710000 },
      { type: 'view', userId: '1', itemId: '1', ts: 'last tuesday' },
    ];
    const body = [...events.slice(0, 2500), ...invalid, ...events.slice(2500)].map((e) => JSON.stringify(e)).join('\n');
    const response = await engine.api.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: body,
    });
    expect(response.statusCode).toBe(200);
    const answer = response.json();
    expect(answer.accepted).toBe(5000);
    expect(answer.rejected).toBe(4);
    expect(answer.errors).toEqual([
      { index: 2500, field: 'userId', reason: 'userId is required and must be a non-empty string or a non-negative safe integer' },
      { index: 2501, field: 'itemId', reason: 'itemId must have 1 to 256 characters' },
      { index: 2502, field: 'type', reason: 'type must be one of view, click, push_sent, push_open' },
      { index: 2503, field: 'ts', reason: 'ts must be epoch milliseconds, or an ISO-8601 date-time with a zone (Z or ±hh:mm)' },
    ]);
  });

  it('recommends 10 items to user 276, none of them already clicked', async () => {
    const clicked = new Set(events.filter((e) => e.userId === '276' && e.type === 'click').map((e) => e.itemId));
    expect(clicked.size).toBeGreaterThan(50);
    const response = await engine.api.inject({ url: '/v1/users/276/recommendations?k=10' });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.coldStart).toBe(false);
    expect(body.items).toHaveLength(10);
    for (const item of body.items) expect(clicked.has(item.itemId)).toBe(false);
    const scores = body.items.map((i: { score: number }) => i.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it('serves trending items to a user with no history, flagged coldStart', async () => {
    const body = (await engine.api.inject({ url: '/v1/users/newcomer/recommendations?k=5' })).json();
    expect(body.coldStart).toBe(true);
    expect(body.items).toHaveLength(5);
  });

  it('reports exact item stats', async () => {
    const itemId = events[0]?.itemId as string;
    const views = events.filter((e) => e.itemId === itemId && e.type === 'view').length;
    const clicks = events.filter((e) => e.itemId === itemId && e.type === 'click').length;
    const body = (await engine.api.inject({ url: `/v1/items/${itemId}/stats` })).json();
    expect(body).toMatchObject({ itemId, views, clicks, ctr: clicks / views });
    expect(body.decayed.clicks).toBeGreaterThan(0);
    expect(body.decayed.clicks).toBeLessThanOrEqual(clicks);
  });

  it('finds similar items, and answers 404 for an unknown one', async () => {
    const itemId = events[0]?.itemId as string;
    const body = (await engine.api.inject({ url: `/v1/items/${itemId}/similar?k=5` })).json();
    expect(body.items).toHaveLength(5);
    expect(body.items.map((i: { itemId: string }) => i.itemId)).not.toContain(itemId);
    expect((await engine.api.inject({ url: '/v1/items/nope/similar' })).statusCode).toBe(404);
  });

  it('answers a URL it cannot decode, or an overlong parameter, in the API error shape naming the path', async () => {
    const bad = await engine.api.inject({ url: '/v1/users/%ED%A0%80/recommendations' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'request_invalid', field: 'path' } });
    expect(bad.headers['x-request-id']).toBeTruthy();
    const long = await engine.api.inject({ url: `/v1/users/${'u'.repeat(2000)}/recommendations` });
    expect(long.statusCode).toBe(414);
    expect(long.json()).toMatchObject({ error: { code: 'request_invalid', field: 'path' } });
  });

  it('answers 400 naming the parameter for a bad k', async () => {
    const response = await engine.api.inject({ url: '/v1/users/276/recommendations?k=1000' });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'request_invalid', field: 'k' });
    // Numbers JavaScript would read, which are no integer in decimal digits: "Infinity" passed
    // the schema's maximum and answered the whole catalogue.
    for (const k of ['Infinity', '1e400', '-Infinity', '0x10', '1e1', '%2B7', '3.0', '%205', 'abc']) {
      const odd = await engine.api.inject({ url: `/v1/users/276/recommendations?k=${k}` });
      expect([k, odd.statusCode, odd.json().error]).toEqual([
        k,
        400,
        { code: 'request_invalid', field: 'k', message: 'parameter k must be an integer in decimal digits' },
      ]);
    }
    const similar = await engine.api.inject({ url: '/v1/items/50/similar?k=Infinity' });
    expect(similar.json().error).toMatchObject({ field: 'k' });
    const campaigns = await engine.api.inject({ url: '/v1/campaigns?limit=Infinity' });
    expect(campaigns.json().error).toMatchObject({ field: 'limit' });
    const five = await engine.api.inject({ url: '/v1/users/276/recommendations?k=5' });
    expect(five.json().items).toHaveLength(5);
  });

  it('exports metrics without user or item ids in labels', async () => {
    const text = (await engine.api.inject({ url: '/metrics' })).body;
    expect(text).toMatch(/freshet_events_consumed_total\{type="click"\} \d+/);
    expect(text).toContain('freshet_events_rejected_total{field="userId"} 1');
    expect(text).not.toMatch(/="276"/);
    expect((await engine.api.inject({ url: '/readyz' })).statusCode).toBe(200);
  });
});
