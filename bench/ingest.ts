import { Redis } from 'ioredis';
import type { InteractionEvent } from '../src/events/schema.ts';
import { startEngine, type EngineProcess } from '../test/support/engine-process.ts';
import { deletePrefix } from '../test/support/services.ts';
import { committedTotal, cpuSeconds, kafkaClient, machineBusySeconds, produceAll, redisCpuSeconds, rssBytes, sleep, uniqueName, type Servers } from './support.ts';

export interface IngestResult {
  processes: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  engineCpuSeconds: number;
  eventsPerCpuSecond: number;
  /** CPU-seconds of the Redis server and of the whole machine (every process) during the run. */
  redisCpuSeconds: number;
  machineCpuSeconds: number;
  /** Highest RSS sampled (every 250 ms) from the first 200,000 events committed to the end. */
  peakRssBytes: number;
  /** RSS when the committed count first reached 200,000 and at the end. */
  rssAt200k: number;
  rssAtEnd: number;
  redisBytesPerUser: number;
  redisBytesPerItem: number;
}

export interface IngestRun {
  result: IngestResult;
  /** Engines still running on the ingested state, for the phases that follow. */
  engines: EngineProcess[];
  env: Record<string, string>;
  prefix: string;
  cleanup(): Promise<void>;
}

/** Average MEMORY USAGE of a sample of keys, in bytes. */
async function averageUsage(redis: Redis, keys: string[][]): Promise<number> {
  if (keys.length === 0) return 0;
  let total = 0;
  for (const group of keys) {
    for (const key of group) total += Number((await redis.memory('USAGE', key)) ?? 0);
  }
  return total / keys.length;
}

async function sampleIds(redis: Redis, pattern: string, prefixLength: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    for (const key of keys) if (ids.length < count) ids.push(key.slice(prefixLength));
    cursor = next;
  } while (cursor !== '0' && ids.length < count);
  return ids;
}

async function redisBytes(redis: Redis, prefix: string) {
  const users = await sampleIds(redis, `${prefix}u:*`, prefix.length + 2, 2000);
  const items = await sampleIds(redis, `${prefix}i:*`, prefix.length + 2, 2000);
  // A user's value holds its record and its clicked items.
  const perUserKeys = await averageUsage(redis, users.map((id) => [`${prefix}u:${id}`]));
  // Every active user is also an entry of the push loop's active set.
  const activeCard = await redis.zcard(`${prefix}push:active`);
  const activeBytes = Number((await redis.memory('USAGE', `${prefix}push:active`)) ?? 0);
  const perUser = perUserKeys + (activeCard > 0 ? activeBytes / activeCard : 0);
  const perItemKeys = await averageUsage(redis, items.map((id) => [`${prefix}i:${id}`]));
  const seqCard = await redis.zcard(`${prefix}iseq`);
  const seqBytes = Number((await redis.memory('USAGE', `${prefix}iseq`)) ?? 0);
  const trendBytes = Number((await redis.memory('USAGE', `${prefix}trend`)) ?? 0);
  return { perUser, perItem: perItemKeys + (seqCard > 0 ? (seqBytes + trendBytes) / seqCard : 0) };
}

/**
 * Events per second from Kafka through decode, model update and the Redis
 * commit to the Kafka offset commit: the topic is filled first, then the
 * engines start and the clock runs until the group's committed offsets reach
 * the end of the topic.
 */
export async function benchIngest(
  srv: Servers,
  events: readonly InteractionEvent[],
  processes: number,
  log: (line: string) => void,
): Promise<IngestRun> {
  const name = uniqueName('bench');
  const topic = `${name}.events`;
  const prefix = `${name}:`;
  const kafka = kafkaClient(srv.brokers);
  log(`ingest x${processes}: producing ${events.length.toLocaleString()} events to ${topic}`);
  await produceAll(kafka, topic, events);

  const env = {
    KAFKA_BROKERS: srv.brokers,
    KAFKA_EVENTS_TOPIC: topic,
    KAFKA_DLQ_TOPIC: `${name}.dlq`,
    KAFKA_CONTENTS_TOPIC: `${name}.contents`,
    KAFKA_GROUP_ID: `${name}.group`,
    REDIS_URL: srv.redisUrl,
    REDIS_PREFIX: prefix,
    CLICKHOUSE_URL: srv.clickhouseUrl,
    CLICKHOUSE_DATABASE: name,
    LOG_LEVEL: 'warn',
    MAX_EVENT_FUTURE_MS: String(365 * 86_400_000),
    // Passed through for experiments: another model file, batch, expiry or analytics settings, or a profiler
    // (BENCH_ENGINE_NODE_OPTIONS=--cpu-prof becomes the engine's NODE_OPTIONS).
    ...Object.fromEntries(
      ['FRESHET_PIPELINES_DIR', 'BATCH_MAX_EVENTS', 'BATCH_CONCURRENCY', 'KAFKA_MAX_BYTES_PER_PARTITION', 'INDEX_BOUND_MIN_ITEMS', 'USER_TTL_MS', 'ITEM_TTL_MS', 'ANALYTICS_FLUSH_MS']
        .flatMap((name) => (process.env[name] ? [[name, process.env[name] as string]] : [])),
    ),
    ...(process.env.BENCH_ENGINE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_ENGINE_NODE_OPTIONS } : {}),
  };
  const engines: EngineProcess[] = [];
  for (let i = 0; i < processes; i++) engines.push(await startEngine(env));
  const pids = engines.map((e) => e.child.pid as number);
  const cpuBefore = pids.map(cpuSeconds);
  const redis = new Redis(srv.redisUrl);
  const redisBefore = await redisCpuSeconds(redis);
  const machineBefore = machineBusySeconds();

  const admin = kafka.admin();
  await admin.connect();
  const started = performance.now();
  let done = 0;
  let peak = 0;
  let rssAt200k = 0;
  let lastLog = started;
  while (done < events.length) {
    await sleep(250);
    done = await committedTotal(admin, env.KAFKA_GROUP_ID, topic);
    const rss = Math.max(...pids.map(rssBytes));
    if (rssAt200k === 0 && done >= 200_000) rssAt200k = rss;
    // RSS also falls (freed blocks go back to the system), so the end is not the highest point.
    if (rssAt200k > 0) peak = Math.max(peak, rss);
    if (performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      log(`  ${done.toLocaleString()} / ${events.length.toLocaleString()} committed, rss ${(rss / 2 ** 20).toFixed(0)} MiB`);
    }
    if (performance.now() - started > 30 * 60_000) throw new Error(`ingest stalled at ${done} events`);
  }
  const seconds = (performance.now() - started) / 1000;
  const engineCpu = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - (cpuBefore[i] as number), 0);
  const machineCpu = machineBusySeconds() - machineBefore;
  const redisCpu = (await redisCpuSeconds(redis)) - redisBefore;
  const rssAtEnd = Math.max(...pids.map(rssBytes));
  await admin.disconnect();

  const bytes = await redisBytes(redis, prefix);
  return {
    result: {
      processes,
      events: events.length,
      seconds,
      eventsPerSecond: events.length / seconds,
      engineCpuSeconds: engineCpu,
      eventsPerCpuSecond: events.length / engineCpu,
      redisCpuSeconds: redisCpu,
      machineCpuSeconds: machineCpu,
      peakRssBytes: peak,
      rssAt200k,
      rssAtEnd,
      redisBytesPerUser: bytes.perUser,
      redisBytesPerItem: bytes.perItem,
    },
    engines,
    env,
    prefix,
    async cleanup() {
      for (const engine of engines) await engine.stop();
      await deletePrefix(redis, prefix);
      redis.disconnect();
      // The run's aggregates: a database per run, left behind it would keep growing the server's disk.
      await fetch(srv.clickhouseUrl, { method: 'POST', body: `DROP DATABASE IF EXISTS ${name}` }).catch(() => undefined);
      const cleanupAdmin = kafka.admin();
      await cleanupAdmin.connect();
      await cleanupAdmin.deleteTopics({ topics: [topic, env.KAFKA_DLQ_TOPIC, env.KAFKA_CONTENTS_TOPIC] }).catch(() => undefined);
      await cleanupAdmin.disconnect();
    },
  };
}
