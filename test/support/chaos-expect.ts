import { expect } from 'vitest';
import type { ScenarioName, ScenarioOptions } from './chaos-scenarios.ts';
import type { ChaosServices, ScenarioResult } from './chaos.ts';
import { service } from './services.ts';

/** The servers of the test run, or undefined when one is not configured (the test skips). */
export function chaosServices(): ChaosServices | undefined {
  const brokers = service('KAFKA_BROKERS');
  const redisUrl = service('REDIS_URL');
  const clickhouseUrl = service('CLICKHOUSE_URL');
  return brokers && redisUrl && clickhouseUrl ? { brokers, redisUrl, clickhouseUrl } : undefined;
}

/** CI sizes, seeded from CHAOS_SEED when set (to replay a failure), else from the clock. */
export function ciOptions(): ScenarioOptions {
  return { size: 'small', seed: Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000) };
}

/** Every view and click counted once in both stores, and every check of the scenario passed. */
export function expectExactlyOnce(result: ScenarioResult, counted: number, seed: number): void {
  const context = `${result.name} (CHAOS_SEED=${seed})`;
  expect(
    result.checks.filter((c) => !c.ok),
    context,
  ).toEqual([]);
  expect(
    {
      expected: result.expected,
      clickhouse: result.actual,
      redis: result.actualRedis,
      lost: result.lost,
      duplicated: result.duplicated,
    },
    context,
  ).toEqual({ expected: counted, clickhouse: counted, redis: counted, lost: 0, duplicated: 0 });
}

export type { ScenarioName };
