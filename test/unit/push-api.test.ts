import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import {
  beginStage,
  completeStage,
  decideStage,
  newCampaign,
  stop,
} from '../../src/push/campaign.ts';
import { pushParams } from '../../src/push/params.ts';

const MIN = 60_000;
const PUB = Date.UTC(2026, 2, 1, 8, 0);
const params = pushParams({ pilotSize: 100 });

describe('campaign routes', () => {
  let engine: Engine;
  let id: string;

  beforeAll(async () => {
    engine = createEngine(loadConfig({ PORT: '0', HOST: '127.0.0.1' }), pino({ level: 'silent' }));
    const store = engine.push.store;
    let c = newCampaign({ itemId: 'n1', publishedAt: PUB }, PUB + 30 * MIN, params);
    await store.create(c);
    c = (await store.save(beginStage(c, PUB + 30 * MIN)))!;
    c = (await store.save(
      completeStage(c, PUB + 30 * MIN, 100, { expected: 5, variance: 4 }, params),
    ))!;
    c = (await store.save(
      decideStage(c, PUB + 60 * MIN, 16, { targetLift: 2.4, z: 2, expandFactor: 2 }),
    ))!;
    id = c.id;
    const other = newCampaign({ itemId: 'n2', publishedAt: PUB }, PUB + 31 * MIN, params);
    await store.create(other);
    await store.save(stop(other, PUB + 240 * MIN, 'expired'));
  });
  afterAll(async () => {
    await engine.api.close();
  });

  it('lists campaigns newest first, filtered by state', async () => {
    const all = await engine.api.inject({ method: 'GET', url: '/v1/campaigns' });
    expect(all.statusCode).toBe(200);
    expect(
      all.json().campaigns.map((c: { itemId: string; state: string }) => [c.itemId, c.state]),
    ).toEqual([
      ['n2', 'stopped'],
      ['n1', 'waiting'],
    ]);
    const stopped = await engine.api.inject({
      method: 'GET',
      url: '/v1/campaigns?state=stopped&limit=5',
    });
    expect(stopped.json().campaigns).toEqual([
      expect.objectContaining({
        itemId: 'n2',
        stopReason: 'expired',
        stageCount: 0,
        sends: 0,
        lift: 0,
      }),
    ]);
  });

  it('shows one campaign with every stage and decision and their numbers', async () => {
    const response = await engine.api.inject({ method: 'GET', url: `/v1/campaigns/${id}` });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({
      id,
      itemId: 'n1',
      state: 'waiting',
      stopReason: null,
      sends: 100,
      observed: 16,
      expected: 5,
      lift: 3.2,
      nextSize: 200,
      publishedAt: '2026-03-01T08:00:00.000Z',
      expiresAt: '2026-03-01T12:00:00.000Z',
    });
    expect(body.stages).toEqual([
      {
        n: 1,
        size: 100,
        startedAt: '2026-03-01T08:30:00.000Z',
        sent: 100,
        expected: 5,
        variance: 4,
        observeUntil: '2026-03-01T09:00:00.000Z',
      },
    ]);
    expect(body.decisions).toEqual([
      {
        at: '2026-03-01T09:00:00.000Z',
        stage: 1,
        action: 'expand',
        reason: 'interval_above_target',
        sent: 100,
        observed: 16,
        expected: 5,
        variance: 4,
        lift: 3.2,
        lower: 2.4,
        upper: 4,
        nextSize: 200,
      },
    ]);
  });

  it('answers 404 for an unknown campaign and 400 naming a bad parameter', async () => {
    const missing = await engine.api.inject({
      method: 'GET',
      url: '/v1/campaigns/c0000000000000000',
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({
      error: { code: 'not_found', field: 'id', message: 'unknown campaign' },
    });
    const bad = await engine.api.inject({ method: 'GET', url: '/v1/campaigns?limit=0' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ code: 'request_invalid', field: 'limit' });
  });

  it('documents the routes in the OpenAPI document', async () => {
    const doc = (await engine.api.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/campaigns', '/v1/campaigns/{id}']),
    );
  });
});
