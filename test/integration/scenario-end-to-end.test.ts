import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import type { ContentEvent } from '../../src/events/schema.ts';
import { assignVariant } from '../../src/scenarios/buckets.ts';
import { FUSION_OFFSET } from '../../src/scenarios/rank.ts';
import type { Plan } from '../../src/scenarios/types.ts';
import { pipelinesCopy } from '../support/scenarios.ts';
import { service, uniqueName } from '../support/services.ts';

type Json = Record<string, any>;

const url = service('REDIS_URL');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Event times sit in the ten minutes before NOW, so the model's clock is a few minutes before it. */
const NOW = Date.now() - 60_000;
const CATEGORIES = ['news', 'sport', 'culture', 'science', 'tech'];
const SPECIALS = ['x-adult', 'x-expired', 'x-blocked', 'x-live'];

/** 40 catalog items (a month old), 10 fresh ones nobody touched yet, and four hot specials. */
function contents(): ContentEvent[] {
  const out: ContentEvent[] = [];
  for (let i = 0; i < 40; i++)
    out.push({ itemId: `m${i}`, publishedAt: NOW - 30 * DAY, category: CATEGORIES[i % 5] });
  for (let i = 0; i < 10; i++)
    out.push({
      itemId: `f${i}`,
      publishedAt: NOW - (i + 1) * HOUR - 1000,
      category: CATEGORIES[i % 5],
    });
  out.push(
    { itemId: 'x-adult', publishedAt: NOW - HOUR / 2, category: 'adult' },
    { itemId: 'x-blocked', publishedAt: NOW - (2 * HOUR) / 3, category: 'news' },
    { itemId: 'x-live', publishedAt: NOW - 2.5 * HOUR, category: 'tech', ttlSeconds: 86_400 },
    { itemId: 'x-expired', publishedAt: NOW - 3 * HOUR, category: 'news', ttlSeconds: 3600 },
  );
  return out;
}

function interactions(): Json[] {
  const out: Json[] = [];
  const start = NOW - 10 * 60_000;
  for (let u = 0; u < 30; u++) {
    for (let j = 0; j < 15; j++) {
      const itemId = `m${(u * 3 + j) % 40}`;
      const ts = start + u * 1000 + j * 10;
      out.push({ type: 'view', userId: `u${u}`, itemId, ts });
      if (j % 3 === 0) out.push({ type: 'click', userId: `u${u}`, itemId, ts: ts + 1 });
    }
    if (u < 20) {
      for (const [s, itemId] of SPECIALS.entries()) {
        const ts = start + 60_000 + u * 100 + s;
        out.push({ type: 'view', userId: `u${u}`, itemId, ts });
        if (u < 15) out.push({ type: 'click', userId: `u${u}`, itemId, ts: ts + 1 });
      }
    }
  }
  for (const user of ['alice', 'bob', 'carol', 'erin']) {
    for (const [j, itemId] of ['m1', 'm2', 'm3', 'm5'].entries()) {
      const ts = start + 120_000 + j * 10;
      out.push({ type: 'view', userId: user, itemId, ts });
      if (user !== 'erin' || itemId === 'm5')
        out.push({ type: 'click', userId: user, itemId, ts: ts + 1 });
    }
  }
  return out;
}

const ids = (body: Json): string[] => body.items.map((i: Json) => i.itemId);

describe.skipIf(url === undefined)('home and similar scenarios against Redis', () => {
  const files = pipelinesCopy();
  let engine: Engine;
  const category = new Map(contents().map((c) => [c.itemId, c.category]));
  const served = new Map<string, number>();

  /** GET through the API; every home answer is tallied per variant for the report test. */
  async function get(path: string): Promise<{ status: number; body: Json }> {
    const response = await engine.api.inject({ url: path });
    const body = response.json() as Json;
    if (response.statusCode === 200 && body.scenario === 'home' && Array.isArray(body.items)) {
      served.set(body.variant, (served.get(body.variant) ?? 0) + body.items.length);
    }
    return { status: response.statusCode, body };
  }
  const homePlan = (user: string): Plan =>
    assignVariant(engine.scenarios.registry.get('home')!, user).plan;

  beforeAll(async () => {
    files.edit('home.yaml', (t) => t.replace('blocked: []', 'blocked: [x-blocked]'));
    const env = {
      PORT: '0',
      HOST: '127.0.0.1',
      FRESHET_PIPELINES_DIR: files.dir,
      REDIS_URL: url as string,
      REDIS_PREFIX: `${uniqueName('scen')}:`,
    };
    engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
    await engine.start();
    const committed = await engine.store.commit({
      partition: 'test/contents/0',
      expectedOffset: null,
      nextOffset: '1',
      effects: undefined,
      analytics: undefined,
      contents: contents(),
    });
    expect(committed).toBe(true);
    const posted = await engine.api.inject({
      method: 'POST',
      url: '/v1/events',
      payload: interactions()
        .map((e) => JSON.stringify(e))
        .join('\n'),
    });
    expect(posted.json()).toMatchObject({ rejected: 0 });
  });
  afterAll(async () => {
    await engine?.stop();
    files.remove();
  });

  it("answers with the user's variant and the scenario version", async () => {
    const home = engine.scenarios.registry.get('home')!;
    const variants = new Set<string>();
    for (let u = 0; u < 12; u++) {
      const { status, body } = await get(`/v1/users/u${u}/recommendations?scenario=home`);
      expect(status).toBe(200);
      expect(body).toMatchObject({ scenario: 'home', version: home.version, coldStart: false });
      expect(body.variant).toBe(assignVariant(home, `u${u}`).name);
      expect(body.items).toHaveLength(10);
      variants.add(body.variant);
    }
    expect(variants).toEqual(new Set(['control', 'fresh-first']));
  });

  it("filter clicked: never serves the user's own clicks", async () => {
    for (let round = 0; round < 3; round++) {
      const { body } = await get('/v1/users/alice/recommendations?scenario=home&k=30');
      expect(body.items.length).toBeGreaterThan(10);
      for (const clicked of ['m1', 'm2', 'm3', 'm5']) expect(ids(body)).not.toContain(clicked);
    }
  });

  it('filter categories: never serves an excluded category, even the hottest item', async () => {
    const trending = await engine.store.trending(4);
    expect(trending.map((s) => s.id)).toContain('x-adult');
    for (const user of ['u1', 'u2', 'newbie', 'alice']) {
      const { body } = await get(`/v1/users/${user}/recommendations?scenario=home&k=30`);
      expect(ids(body)).not.toContain('x-adult');
    }
  });

  it('filter expired: drops content past its TTL at the model clock, keeps live content', async () => {
    // Unfiltered, x-expired (fresh and trending) would outscore every fresh item but x-live.
    const { body } = await get('/v1/users/newbie-expired/recommendations?scenario=home&k=30');
    expect(ids(body)).not.toContain('x-expired');
    expect(ids(body)).toContain('x-live');
  });

  it('filter blocked: never serves a blocked item', async () => {
    for (const user of ['newbie2', 'u3', 'u4']) {
      const { body } = await get(`/v1/users/${user}/recommendations?scenario=home&k=30`);
      expect(ids(body)).not.toContain('x-blocked');
    }
  });

  it('filter shown: an item served 5 times is not served again', async () => {
    const tally = new Map<string, number>();
    for (let round = 0; round < 12; round++) {
      const { body } = await get('/v1/users/carol/recommendations?scenario=home&k=30');
      for (const id of ids(body)) tally.set(id, (tally.get(id) ?? 0) + 1);
    }
    expect(Math.max(...tally.values())).toBe(5);
    expect([...tally.values()].filter((n) => n === 5).length).toBeGreaterThan(5);
    expect(await engine.scenarios.exposure.shownCounts('carol')).toEqual(tally);
  });

  it('demotion seen: an item served before comes back with half its score', async () => {
    const first = (await get('/v1/users/bob/recommendations?scenario=home&k=30')).body;
    const second = (await get('/v1/users/bob/recommendations?scenario=home&k=30')).body;
    const before = new Map<string, number>(first.items.map((i: Json) => [i.itemId, i.score]));
    const again = second.items.filter((i: Json) => before.has(i.itemId));
    expect(again.length).toBeGreaterThan(0);
    for (const item of again)
      expect(item.score / (before.get(item.itemId) as number)).toBeCloseTo(0.5, 12);
    expect(second.items.filter((i: Json) => !before.has(i.itemId)).length).toBeGreaterThan(0);
  });

  it("quota fresh: the variant's quota of fresh items, though more fresh items outscore the rest", async () => {
    const home = engine.scenarios.registry.get('home')!;
    const users = Array.from({ length: 13 }, (_, i) => `u${17 + i}`);
    const fresher = users.filter((u) => assignVariant(home, u).name === 'fresh-first').slice(0, 2);
    const control = users.filter((u) => assignVariant(home, u).name === 'control').slice(0, 2);
    expect(fresher).toHaveLength(2);
    const freshCandidates = contents().filter((c) => c.publishedAt > NOW - 2 * DAY).length;
    for (const user of fresher) {
      const { body } = await get(`/v1/users/${user}/recommendations?scenario=home&k=30`);
      const fresh = homePlan(user).candidates.find((c) => c.kind === 'fresh')!;
      expect(fresh.quota).toBe(4);
      expect(body.items.filter((i: Json) => i.source === 'fresh')).toHaveLength(4);
      // Every unserved, unfiltered fresh item (there are more than the quota) scores at least this:
      const skipped = fresh.weight / (FUSION_OFFSET + freshCandidates);
      expect(Math.min(...body.items.map((i: Json) => i.score))).toBeLessThan(skipped);
    }
    for (const user of control) {
      const { body } = await get(`/v1/users/${user}/recommendations?scenario=home&k=30`);
      expect(body.items.filter((i: Json) => i.source === 'fresh').length).toBeLessThanOrEqual(2);
    }
  });

  it('quota trending: a user without history gets 3 trending items and the fresh quota, fewer than k', async () => {
    const { body } = await get('/v1/users/newcomer/recommendations?scenario=home&k=10');
    expect(body.coldStart).toBe(true);
    const quota = homePlan('newcomer').candidates.find((c) => c.kind === 'fresh')!.quota as number;
    expect(body.items.filter((i: Json) => i.source === 'trending')).toHaveLength(3);
    expect(body.items.filter((i: Json) => i.source === 'fresh')).toHaveLength(quota);
    expect(body.items).toHaveLength(3 + quota);
  });

  it("quota similar: at most 3 items like the user's recent clicks", async () => {
    expect((await engine.store.getClicked('alice')).slice(0, 5)).toEqual([
      'm5',
      'm3',
      'm2',
      'm1',
    ]);
    const { body } = await get('/v1/users/alice/recommendations?scenario=home&k=30');
    const similar = body.items.filter((i: Json) => i.source === 'similar');
    expect(similar.length).toBeGreaterThan(0);
    expect(similar.length).toBeLessThanOrEqual(3);
  });

  it('diversity: at most 3 items of one category', async () => {
    for (const user of ['u9', 'u10', 'alice', 'newbie3']) {
      const { body } = await get(`/v1/users/${user}/recommendations?scenario=home&k=30`);
      const perCategory = new Map<string, number>();
      for (const id of ids(body)) {
        const c = category.get(id) as string;
        perCategory.set(c, (perCategory.get(c) ?? 0) + 1);
      }
      expect(Math.max(...perCategory.values())).toBeLessThanOrEqual(3);
    }
  });

  it("similar page: ranks like the model's neighbours and trending, with the older demotion, never the page item", async () => {
    const { status, body } = await get('/v1/items/m1/similar?scenario=similar&userId=dave');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      itemId: 'm1',
      userId: 'dave',
      scenario: 'similar',
      variant: 'default',
    });
    expect(body.items).toHaveLength(6);
    const neighbours = (await get('/v1/items/m1/similar?k=100')).body.items.map(
      (i: Json) => i.itemId,
    );
    const trending = (await engine.store.trending(20)).map((s) => s.id);
    for (const item of body.items) {
      const r1 = neighbours.indexOf(item.itemId);
      const r2 = trending.indexOf(item.itemId);
      const base =
        (r1 < 0 ? 0 : 1 / (FUSION_OFFSET + r1 + 1)) + (r2 < 0 ? 0 : 0.5 / (FUSION_OFFSET + r2 + 1));
      const old = item.itemId.startsWith('m');
      expect(item.score, item.itemId).toBeCloseTo(base * (old ? 0.8 : 1), 12);
    }
    expect(ids(body)).not.toContain('m1');
    expect(body.items.filter((i: Json) => i.source === 'trending').length).toBeLessThanOrEqual(1);
  });

  it('similar page filter categories: only included categories, at most 2 of each', async () => {
    const include = new Set(['news', 'sport', 'culture', 'science', 'tech']);
    for (const item of ['m1', 'm2', 'm7', 'x-live']) {
      const { body } = await get(`/v1/items/${item}/similar?scenario=similar&userId=frank&k=20`);
      const perCategory = new Map<string, number>();
      for (const id of ids(body)) {
        const c = category.get(id) as string;
        expect(include.has(c), id).toBe(true);
        perCategory.set(c, (perCategory.get(c) ?? 0) + 1);
      }
      expect(Math.max(...perCategory.values())).toBeLessThanOrEqual(2);
      expect(ids(body)).not.toContain('x-adult');
    }
  });

  it('similar page filter clicked, demotion seen, and its k limit', async () => {
    const first = (await get('/v1/items/m4/similar?scenario=similar&userId=erin&k=20')).body;
    expect(ids(first)).not.toContain('m5');
    const second = (await get('/v1/items/m4/similar?scenario=similar&userId=erin&k=20')).body;
    const before = new Map<string, number>(first.items.map((i: Json) => [i.itemId, i.score]));
    const again = second.items.filter((i: Json) => before.has(i.itemId));
    expect(again.length).toBeGreaterThan(0);
    for (const item of again)
      expect(item.score / (before.get(item.itemId) as number)).toBeCloseTo(0.7, 12);
    const tooMany = await get('/v1/items/m4/similar?scenario=similar&k=25');
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toMatchObject({
      field: 'k',
      message: 'k must be at most 20 for scenario similar',
    });
  });

  it('reports impressions and tagged clicks per variant from Redis counters', async () => {
    const clicks: Json[] = [];
    for (let u = 20; u < 26; u++) {
      const { body } = await get(`/v1/users/u${u}/recommendations?scenario=home&k=5`);
      clicks.push({
        type: 'click',
        userId: `u${u}`,
        itemId: body.items[0].itemId,
        ts: NOW,
        variant: `home/${body.variant}`,
      });
    }
    await engine.api.inject({ method: 'POST', url: '/v1/events', payload: JSON.stringify(clicks) });
    const { body } = await get('/v1/scenarios/home/report');
    expect(body.source).toBe('redis');
    for (const line of body.variants) {
      expect(line.impressions, line.variant).toBe(served.get(line.variant) ?? 0);
      expect(line.clicks, line.variant).toBe(
        clicks.filter((c) => c.variant === `home/${line.variant}`).length,
      );
    }
    const [control, fresher] = body.variants;
    const comparison = body.comparisons[0];
    expect(comparison.difference).toBeCloseTo(fresher.ctr - control.ctr, 12);
    expect(comparison.interval[0]).toBeLessThan(comparison.difference);
    expect(comparison.interval[1]).toBeGreaterThan(comparison.difference);
  });
});
