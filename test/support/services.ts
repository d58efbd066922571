import type { Redis } from 'ioredis';

/**
 * Where the integration tests find their servers. `npm test` starts them and
 * sets these variables. A test whose server is not configured is skipped on a
 * developer's machine, and fails under CI=true: CI must never skip silently.
 */
export type ServiceVariable = 'REDIS_URL' | 'CLICKHOUSE_URL' | 'KAFKA_BROKERS' | 'PROMETHEUS_URL';

export function service(variable: ServiceVariable, env: Record<string, string | undefined> = process.env): string | undefined {
  const value = env[variable]?.trim();
  if (value) return value;
  if (env.CI === 'true') {
    throw new Error(`${variable} is not set, and CI=true requires every integration test to run: start the servers with \`npm test\``);
  }
  return undefined;
}

/** A name unique to this test run, for Redis prefixes, ClickHouse databases, Kafka topics and groups. */
export function uniqueName(base: string): string {
  return `${base}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Deletes every Redis key under `prefix`. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}
