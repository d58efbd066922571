import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import { assignVariant } from '../../src/scenarios/buckets.ts';
import { eventually, lineOf, pipelinesCopy } from '../support/scenarios.ts';

type Json = Record<string, any>;
const T0 = Date.now() - 86_400_000;

/** 20 users and 30 items: user u clicks item i when (u + i) % 4 === 0, every pair is viewed. */
function events(): Json[] {
  const out: Json[] = [];
  for (let u = 0; u < 20; u++) {
    for (let i = 0; i < 30; i++) {
      const ts = T0 + u * 100_000 + i * 1000;
      out.push({ type: 'view', userId: `u${u}`, itemId: `i${i}`, ts });
      if ((u + i) % 4 === 0)
        out.push({ type: 'click', userId: `u${u}`, itemId: `i${i}`, ts: ts + 1 });
    }
  }
  return out;
}

describe('scenarios served by an embedded engine', () => {
  const files = pipelinesCopy();
  let engine: Engine;
  const post = (body: Json[]) =>
    engine.api.inject({
      method: 'POST',
      url: '/v1/events',
      payload: body.map((e) => JSON.stringify(e)).join('\n'),
    });
  const get = async (url: string) => {
    const response = await engine.api.inject({ url });
    return { status: response.statusCode, body: response.json() as Json };
  };

  beforeAll(async () => {
    const env = {
      PORT: '0',
      HOST: '127.0.0.1',
      FRESHET_PIPELINES_DIR: files.dir,
      SCENARIO_RELOAD_DEBOUNCE_MS: '50',
    };
    engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
    await engine.start();
    expect((await post(events())).json().rejected).toBe(0);
  });
  afterAll(async () => {
    await engine.stop();
    files.remove();
  });

  it("names the scenario, the user's variant and the file version in the answer", async () => {
    const home = engine.scenarios.registry.get('home')!;
    for (const user of ['u1', 'u2', 'u3', 'u4']) {
      const { status, body } = await get(`/v1/users/${user}/recommendations?scenario=home&k=5`);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        userId: user,
        scenario: 'home',
        version: home.version,
        coldStart: false,
      });
      expect(body.variant).toBe(assignVariant(home, user).name);
      expect(body.items).toHaveLength(5);
    }
  });

  it('finishes a request on the version it started with, while a reload lands', async () => {
    const reads = engine.reads;
    const clock = reads.clock.bind(reads);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    reads.clock = async () => (await gate, clock());
    try {
      const before = engine.scenarios.registry.get('similar')!.version;
      const inFlight = engine.api.inject({
        url: '/v1/items/i1/similar?scenario=similar&userId=u1',
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      files.edit('similar.yaml', (t) => t.replace('default: 6', 'default: 3'));
      engine.scenarios.registry.reload();
      const after = engine.scenarios.registry.get('similar')!.version;
      expect(after).not.toBe(before);
      open();
      expect((await inFlight).json().version).toBe(before);
      expect((await get('/v1/items/i1/similar?scenario=similar&userId=u1')).body.version).toBe(
        after,
      );
    } finally {
      reads.clock = clock;
    }
  });

  it('takes edits without a restart while requests run, and rejects a broken edit without failing any', async () => {
    const statuses = new Map<number, number>();
    const versions = new Set<string>();
    let running = true;
    const worker = async (n: number) => {
      for (let i = 0; running; i++) {
        const response = await engine.api.inject({
          url: `/v1/users/u${(n + i) % 20}/recommendations?scenario=home&k=5`,
        });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        if (response.statusCode === 200) versions.add(response.json().version);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const workers = Array.from({ length: 8 }, (_, n) => worker(n));
    try {
      const first = engine.scenarios.registry.get('home')!.version;
      files.edit('home.yaml', (t) => t.replace('maxPerCategory: 3', 'maxPerCategory: 2'));
      await eventually(
        () => engine.scenarios.registry.get('home')!.version !== first,
        5000,
        'the edit',
      );
      const second = engine.scenarios.registry.get('home')!.version;
      await eventually(() => versions.has(second), 5000, 'an answer of the new version');

      files.edit('home.yaml', (t) => t.replace('maxPerCategory: 2', 'maxPerCategory: many'));
      await eventually(
        async () => (await get('/v1/scenarios')).body.errors.length > 0,
        5000,
        'the rejection',
      );
      const { body } = await get('/v1/scenarios');
      const line = lineOf(files.path('home.yaml'), 'maxPerCategory: many');
      expect(body.errors).toEqual([
        {
          file: files.path('home.yaml'),
          line,
          field: 'diversity.maxPerCategory',
          message: `${files.path('home.yaml')}:${line}: diversity.maxPerCategory: must be an integer from 1 to 100`,
        },
      ]);
      expect(body.scenarios.find((s: Json) => s.name === 'home').version).toBe(second);
      const served = await get('/v1/users/u5/recommendations?scenario=home');
      expect(served.status).toBe(200);
      expect(served.body.version).toBe(second);
      expect([...versions].every((v) => v === first || v === second)).toBe(true);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)).toBeGreaterThan(50);
  });

  it('counts impressions per variant and the clicks tagged with one, in process', async () => {
    const home = engine.scenarios.registry.get('home')!;
    const before = (await get('/v1/scenarios/home/report')).body;
    const served: Record<string, number> = {};
    const clicks: Json[] = [];
    for (const user of ['u6', 'u7', 'u8', 'u9', 'u10', 'u11']) {
      const { body } = await get(`/v1/users/${user}/recommendations?scenario=home&k=4`);
      served[body.variant] = (served[body.variant] ?? 0) + body.items.length;
      const itemId = body.items[0].itemId;
      clicks.push({
        type: 'click',
        userId: user,
        itemId,
        ts: Date.now() - 1000,
        variant: `home/${body.variant}`,
      });
    }
    clicks.push({
      type: 'click',
      userId: 'u6',
      itemId: 'i0',
      ts: Date.now() - 1000,
      variant: 'home/no-such-variant',
    });
    await post(clicks);

    const report = (await get('/v1/scenarios/home/report')).body;
    expect(report).toMatchObject({ scenario: 'home', version: home.version, source: 'memory' });
    for (const line of report.variants) {
      const old = before.variants.find((v: Json) => v.variant === line.variant);
      const tagged = clicks.filter((c) => c.variant === `home/${line.variant}`).length;
      expect(line.impressions - old.impressions).toBe(served[line.variant] ?? 0);
      expect(line.clicks - old.clicks).toBe(tagged);
      expect(line.ctr).toBeCloseTo(line.clicks / line.impressions, 12);
    }
    expect(report.comparisons).toHaveLength(1);
    expect(report.comparisons[0]).toMatchObject({
      variant: 'fresh-first',
      baseline: 'control',
      confidence: 0.95,
    });
  });

  it("serves items like the user's latest clicks, in event-time order", async () => {
    await post([
      { type: 'click', userId: 'fan', itemId: 'i3', ts: T0 + 5_000_000 },
      { type: 'click', userId: 'fan', itemId: 'i7', ts: T0 + 5_000_001 },
    ]);
    expect((await engine.store.getClicked('fan')).slice(0, 5)).toEqual(['i7', 'i3']);
    const { body } = await get('/v1/users/fan/recommendations?scenario=home&k=20');
    const similar = body.items.filter((i: Json) => i.source === 'similar');
    expect(similar.length).toBeGreaterThan(0);
    expect(similar.length).toBeLessThanOrEqual(3);
    expect(body.items.map((i: Json) => i.itemId)).not.toContain('i3');
  });
});
