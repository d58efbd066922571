/**
 * `npm run bench`: throughput, freshness, API latency and memory against the
 * real local servers (the ones the tests use). Prints one table, or JSON with
 * --json: { "rows": [{ "name", "value", "unit", "target" }] }.
 *
 *   --events N            brunch reads to ingest (default: all, about 1.1 million)
 *   --api-rate N          requests per second of the API load (default 2000)
 *   --api-seconds N       length of the API load (default 20)
 *   --freshness-seconds N length of the freshness run (default 20)
 *   --freshness-warmup N  seconds of the same load, unmeasured, before it (default 40)
 *   --skip-two            skip the two-process ingest
 *
 * BENCH_ENGINE_NODE_OPTIONS becomes the engines' NODE_OPTIONS (a profiler, say), and
 * BENCH_ENGINE_LOG names a file that receives the first engine's output when it stops.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { defaultDatasetPath, readBrunch } from '../src/sources/datasets.ts';
import type { InteractionEvent } from '../src/events/schema.ts';
import { benchApi } from './api.ts';
import { benchFreshness } from './freshness.ts';
import { benchIngest } from './ingest.ts';
import { cpuSeconds, kafkaClient, machineBusySeconds, redisCpuSeconds, serverPid, servers, type BenchRow } from './support.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string' },
    'api-rate': { type: 'string', default: '2000' },
    'api-seconds': { type: 'string', default: '20' },
    'freshness-seconds': { type: 'string', default: '20' },
    'freshness-warmup': { type: 'string', default: '40' },
    'skip-two': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const srv = servers();
const limit = values.events === undefined ? undefined : Number(values.events);

const events: InteractionEvent[] = [];
for await (const event of readBrunch(defaultDatasetPath('brunch'), { limit })) events.push(event);
log(`loaded ${events.length.toLocaleString()} brunch reads`);
const MiB = 2 ** 20;
const rows: BenchRow[] = [];

const one = await benchIngest(srv, events, 1, log);
const r1 = one.result;
rows.push({ name: 'ingest, 1 process', value: r1.eventsPerSecond, unit: 'events/s', target: '>= 50000' });
rows.push({ name: 'ingest, 1 process, per engine CPU-second', value: r1.eventsPerCpuSecond, unit: 'events/cpu-s', target: '' });
// Where the machine's two cores went during the ingest: the engine, the Redis server, and everything.
const per100k = (seconds: number) => (seconds * 100_000) / r1.events;
rows.push({ name: 'ingest, 1 process: engine CPU per 100,000 events', value: per100k(r1.engineCpuSeconds), unit: 'cpu-s', target: '' });
rows.push({ name: 'ingest, 1 process: Redis CPU per 100,000 events', value: per100k(r1.redisCpuSeconds), unit: 'cpu-s', target: '' });
rows.push({ name: 'ingest, 1 process: machine CPU per 100,000 events', value: per100k(r1.machineCpuSeconds), unit: 'cpu-s', target: '' });

const engine = one.engines[0];
if (engine === undefined) throw new Error('no engine');
const users = [...new Set(events.map((e) => e.userId))].sort(() => Math.random() - 0.5);
const api = await benchApi(engine.url, srv.redisUrl, one.prefix, users, Number(values['api-rate']), Number(values['api-seconds']), log);
for (const [label, load] of [['distinct users', api.distinct], ['same users again', api.repeated]] as const) {
  rows.push({ name: `api recommendations, ${api.items.toLocaleString()} items, ${label}: rate`, value: load.achievedRate, unit: 'requests/s', target: `>= ${api.rate}` });
  rows.push({ name: `api recommendations, ${label}: p50`, value: load.p50Ms, unit: 'ms', target: '' });
  rows.push({ name: `api recommendations, ${label}: p99`, value: load.p99Ms, unit: 'ms', target: '<= 10' });
  rows.push({ name: `api recommendations, ${label}: errors`, value: load.errors, unit: 'requests', target: '0' });
}
rows.push({ name: 'api top-10 agreement with exact scoring', value: api.agreement * 100, unit: '%', target: '>= 95' });

const clock = events.reduce((max, e) => Math.max(max, e.ts), 0);
// Where the two cores go at a steady 5,000 events/s: CPU-seconds per second of the freshness run.
const freshnessRedis = new Redis(srv.redisUrl);
const cpuUsers: Array<[string, () => number | Promise<number>]> = [
  ['machine', machineBusySeconds],
  ['engine', () => cpuSeconds(engine.child.pid as number)],
  ['Redis', () => redisCpuSeconds(freshnessRedis)],
  ...(['clickhouse', 'kafka'] as const).flatMap((name): Array<[string, () => number]> => {
    const pid = serverPid(name);
    return pid === undefined ? [] : [[name === 'clickhouse' ? 'ClickHouse' : 'Kafka', () => cpuSeconds(pid)]];
  }),
];
// On servers this run started, the broker compiles its paths for small produce and fetch requests
// during the first minute of this load (its CPU fell from 0.33 to 0.18 CPU-seconds a second over
// five rounds of 20 s): the load runs unmeasured first, as a broker that has been running serves it.
const warmup = Number(values['freshness-warmup']);
if (warmup > 0) await benchFreshness(kafkaClient(srv.brokers), one.env.KAFKA_EVENTS_TOPIC as string, engine.url, clock, 5000, warmup, log);
const cpuBefore = await Promise.all(cpuUsers.map(([, read]) => read()));
const freshStarted = performance.now();
// Event times go on from the warm-up's.
const freshClock = clock + warmup * 5000 + 1;
const fresh = await benchFreshness(kafkaClient(srv.brokers), one.env.KAFKA_EVENTS_TOPIC as string, engine.url, freshClock, 5000, Number(values['freshness-seconds']), log);
rows.push({ name: 'freshness p50 at 5,000 events/s', value: fresh.p50Ms, unit: 'ms', target: '' });
rows.push({ name: 'freshness p99 at 5,000 events/s', value: fresh.p99Ms, unit: 'ms', target: '<= 250' });
rows.push({ name: 'freshness probes not seen within 10 s', value: fresh.missed, unit: 'probes', target: '0' });
const freshSeconds = (performance.now() - freshStarted) / 1000;
const cpuAfter = await Promise.all(cpuUsers.map(([, read]) => read()));
cpuUsers.forEach(([who], i) => {
  const used = (cpuAfter[i] as number) - (cpuBefore[i] as number);
  rows.push({ name: `freshness run: ${who} CPU`, value: used / freshSeconds, unit: 'cpu-s/s', target: '' });
});
freshnessRedis.disconnect();

rows.push({ name: 'engine RSS after 200,000 events', value: r1.rssAt200k / MiB, unit: 'MiB', target: '' });
rows.push({ name: `engine RSS after ${events.length.toLocaleString()} events`, value: r1.rssAtEnd / MiB, unit: 'MiB', target: '' });
rows.push({ name: 'engine RSS peak, 200,000 to end', value: r1.peakRssBytes / MiB, unit: 'MiB', target: '' });
rows.push({ name: 'engine RSS growth, 200,000 to end', value: r1.rssAt200k > 0 ? r1.rssAtEnd / r1.rssAt200k : Number.NaN, unit: 'ratio', target: '' });
rows.push({ name: 'engine RSS growth, 200,000 to peak', value: r1.rssAt200k > 0 ? r1.peakRssBytes / r1.rssAt200k : Number.NaN, unit: 'ratio', target: '<= 1.10' });
rows.push({ name: 'redis bytes per user', value: r1.redisBytesPerUser, unit: 'bytes', target: '' });
rows.push({ name: 'redis bytes per item', value: r1.redisBytesPerItem, unit: 'bytes', target: '' });
if (process.env.BENCH_ENGINE_LOG) writeFileSync(process.env.BENCH_ENGINE_LOG, engine.logs());
await one.cleanup();

if (!values['skip-two']) {
  const two = await benchIngest(srv, events, 2, log);
  rows.push({ name: 'ingest, 2 processes', value: two.result.eventsPerSecond, unit: 'events/s', target: '' });
  rows.push({ name: 'ingest, 2 processes, per engine CPU-second', value: two.result.eventsPerCpuSecond, unit: 'events/cpu-s', target: '' });
  rows.push({
    name: 'efficiency, 2 processes vs 1 (events per CPU-second)',
    value: two.result.eventsPerCpuSecond / r1.eventsPerCpuSecond,
    unit: 'ratio',
    target: '>= 0.80',
  });
  await two.cleanup();
}

if (values.json) {
  process.stdout.write(`${JSON.stringify({ rows }, null, 2)}\n`);
} else {
  const fmt = (v: number) => (Number.isNaN(v) ? 'n/a' : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));
  const width = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`${'measure'.padEnd(width)}  ${'value'.padStart(12)}  ${'unit'.padEnd(12)}  target\n`);
  for (const r of rows) {
    process.stdout.write(`${r.name.padEnd(width)}  ${fmt(r.value).padStart(12)}  ${r.unit.padEnd(12)}  ${r.target}\n`);
  }
}
process.exit(0);
