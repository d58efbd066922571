import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseSink } from '../../src/analytics/clickhouse.ts';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import { VariantAnalytics } from '../../src/scenarios/variant-analytics.ts';
import { service, uniqueName } from '../support/services.ts';

type Json = Record<string, any>;
const redis = service('REDIS_URL');
const clickhouse = service('CLICKHOUSE_URL');

describe.skipIf(redis === undefined || clickhouse === undefined)(
  'scenario report from ClickHouse',
  () => {
    const database = uniqueName('freshet_scen');
    let engine: Engine;

    beforeAll(async () => {
      const env = {
        PORT: '0',
        HOST: '127.0.0.1',
        REDIS_URL: redis as string,
        REDIS_PREFIX: `${uniqueName('chrep')}:`,
        CLICKHOUSE_URL: clickhouse as string,
        CLICKHOUSE_DATABASE: database,
        ANALYTICS_FLUSH_MS: '100',
      };
      engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
      await engine.start();
      const now = Date.now() - 60_000;
      const events = [];
      for (let u = 0; u < 20; u++) {
        for (let i = 0; i < 12; i++) {
          events.push({ type: 'view', userId: `u${u}`, itemId: `i${i}`, ts: now + u * 100 + i });
          if ((u + i) % 3 === 0)
            events.push({
              type: 'click',
              userId: `u${u}`,
              itemId: `i${i}`,
              ts: now + u * 100 + i + 1,
            });
        }
      }
      await engine.api.inject({
        method: 'POST',
        url: '/v1/events',
        payload: JSON.stringify(events),
      });
    });
    afterAll(async () => {
      await engine?.stop();
      const sink = new ClickHouseSink({
        url: clickhouse as string,
        database,
        username: 'default',
        password: '',
      });
      await sink.client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await sink.close();
    });

    it('counts impressions per variant and each tagged click once, even when it arrives twice', async () => {
      const served = new Map<string, number>();
      const clicks: Json[] = [];
      const ts = Date.now() - 30_000;
      for (let u = 0; u < 16; u++) {
        const body = (
          await engine.api.inject({ url: `/v1/users/v${u}/recommendations?scenario=home&k=4` })
        ).json();
        served.set(body.variant, (served.get(body.variant) ?? 0) + body.items.length);
        if (u % 2 === 0)
          clicks.push({
            type: 'click',
            userId: `v${u}`,
            itemId: body.items[0].itemId,
            ts,
            variant: `home/${body.variant}`,
          });
      }
      const payload = JSON.stringify(clicks);
      await engine.api.inject({ method: 'POST', url: '/v1/events', payload });
      await engine.api.inject({ method: 'POST', url: '/v1/events', payload });

      const report = (await engine.api.inject({ url: '/v1/scenarios/home/report' })).json();
      expect(report.source).toBe('clickhouse');
      expect(report.variants.map((v: Json) => v.variant)).toEqual(['control', 'fresh-first']);
      for (const line of report.variants) {
        expect(line.impressions, line.variant).toBe(served.get(line.variant) ?? 0);
        expect(line.clicks, line.variant).toBe(
          clicks.filter((c) => c.variant === `home/${line.variant}`).length,
        );
        expect(line.ctr).toBeCloseTo(line.clicks / line.impressions, 12);
      }
      expect(report.comparisons).toHaveLength(1);

      const counts = await new VariantAnalytics(
        (engine.sink as ClickHouseSink).client,
        database,
      ).counts('home');
      expect([...counts.values()].reduce((n, c) => n + c.clicks, 0)).toBe(clicks.length);
    });

    it('pastes no unchecked text into SQL', async () => {
      const direct = new VariantAnalytics((engine.sink as ClickHouseSink).client, database);
      await expect(direct.counts("home' OR '1'='1")).rejects.toThrow('scenario name must match');
    });
  },
);
