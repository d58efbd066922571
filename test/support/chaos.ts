import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { ClickHouseSink, itemMinuteSql } from '../../src/analytics/clickhouse.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import type { OutMessage, Totals } from './chaos-data.ts';
import { startEngine, waitFor, type EngineProcess } from './engine-process.ts';
import { uniqueName } from './services.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/** What every chaos scenario reports; the `npm run chaos` table and JSON print these fields. */
export interface ScenarioResult {
  name: string;
  /** Good events produced to Kafka. */
  events: number;
  /** Kills, outages or restarts inflicted. */
  faults: number;
  /** Views and clicks in the source. */
  expected: number;
  /** Views and clicks counted in ClickHouse (FINAL). */
  actual: number;
  /** Views and clicks counted by the Redis counters. */
  actualRedis: number;
  /** Events missing from either store (the larger of the two). */
  lost: number;
  /** Events counted twice in either store (the larger of the two). */
  duplicated: number;
  /** Highest resident set of any engine process of the scenario. */
  peakRssBytes: number;
  durationMs: number;
  /** Further properties the scenario proves, each with what was measured. */
  checks: Check[];
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export function check(name: string, ok: boolean, detail: string): Check {
  return { name, ok, detail };
}

export interface ChaosServices {
  brokers: string;
  redisUrl: string;
  clickhouseUrl: string;
}

/** Per-item differences between the source and a store, as lost and duplicated events. */
export function compareTotals(expected: Map<string, Totals>, actual: Map<string, Totals>) {
  let lost = 0;
  let duplicated = 0;
  let total = 0;
  for (const id of new Set([...expected.keys(), ...actual.keys()])) {
    const e = expected.get(id) ?? { views: 0, clicks: 0 };
    const a = actual.get(id) ?? { views: 0, clicks: 0 };
    total += a.views + a.clicks;
    for (const d of [a.views - e.views, a.clicks - e.clicks]) {
      if (d < 0) lost -= d;
      else duplicated += d;
    }
  }
  return { lost, duplicated, total };
}

export function sumTotals(totals: Map<string, Totals>): number {
  let sum = 0;
  for (const t of totals.values()) sum += t.views + t.clicks;
  return sum;
}

type ServiceName = 'redis' | 'clickhouse' | 'kafka';

const PORTS: Array<
  [variable: 'REDIS_URL' | 'CLICKHOUSE_URL' | 'KAFKA_BROKERS', port: string, fallback: string]
> = [
  ['REDIS_URL', 'FRESHET_REDIS_PORT', '16379'],
  ['CLICKHOUSE_URL', 'FRESHET_CLICKHOUSE_HTTP_PORT', '18123'],
  ['KAFKA_BROKERS', 'FRESHET_KAFKA_PORT', '19092'],
];

/**
 * Stops, starts or restarts one server of the instance this process's
 * environment points at, through scripts/services.sh. Refuses when the
 * FRESHET_*_PORT variables (what services.sh acts on) disagree with the URLs
 * the tests use, so a chaos test never touches someone else's servers.
 */
export async function serviceControl(
  action: 'stop-one' | 'start-one' | 'restart-one',
  name: ServiceName,
): Promise<void> {
  const env = process.env;
  for (const [variable, portVariable, fallback] of PORTS) {
    const value = env[variable] ?? '';
    const port =
      variable === 'KAFKA_BROKERS' ? value.split(',')[0]?.split(':')[1] : new URL(value).port;
    const configured = env[portVariable] ?? fallback;
    if (port !== configured) {
      throw new Error(
        `${variable}=${value} but scripts/services.sh would act on port ${configured}: export ${portVariable}=${port} ` +
          'and the other FRESHET_*_PORT and FRESHET_SERVICES_DIR variables the servers were started with',
      );
    }
  }
  await run('bash', ['scripts/services.sh', action, name], { cwd: ROOT, env, timeout: 180_000 });
}

/** Peak resident set (VmHWM) of a Linux process, 0 when unknown. */
export function peakRss(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function currentRss(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function alive(engine: EngineProcess): boolean {
  return engine.child.exitCode === null && engine.child.signalCode === null;
}

/**
 * Lines that are not errors: Node's process warnings (kafkajs's request queue sets a negative
 * timeout on Node 24; deprecations), which Node prints itself.
 */
const HARMLESS = [
  /^\(node:\d+\) (\[\w+\] )?\w*Warning: /,
  /^Timeout duration was set to 1\./,
  /^\(Use `node --trace-/,
];

/** Output lines that are not the engine's structured log: an error that escaped to the console. */
export function strayLines(output: string): string[] {
  return output
    .split('\n')
    .filter(
      (line) =>
        line.trim() !== '' && !line.startsWith('{') && !HARMLESS.some((re) => re.test(line)),
    );
}

/** Sum of every sample of one metric on an engine's /metrics, 0 when absent or unreachable. */
export async function metricSum(url: string, name: string): Promise<number> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  } catch {
    return 0;
  }
}

/** Sends a signal and resolves with the exit code and how long the process took to exit. */
export async function timedStop(engine: EngineProcess, signal: NodeJS.Signals = 'SIGTERM') {
  const started = Date.now();
  const code = await engine.stop(signal);
  return { code, ms: Date.now() - started };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One scenario's world: its own topics, consumer group, Redis prefix and
 * ClickHouse database on the shared servers, the engine processes it starts,
 * and the readings the checks need.
 */
export class ChaosRun {
  readonly name: string;
  readonly topic: string;
  readonly dlqTopic: string;
  readonly group: string;
  readonly prefix: string;
  readonly database: string;
  readonly services: ChaosServices;
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly producer: Producer;
  readonly store: RedisStateStore;
  readonly clickhouse: ClickHouseSink;
  readonly engines: EngineProcess[] = [];
  private peak = 0;
  private lastState = 'not read yet';
  private sampler: NodeJS.Timeout | undefined;

  constructor(scenario: string, services: ChaosServices) {
    this.name = uniqueName(`chaos_${scenario}`);
    this.topic = `${this.name}.events`;
    this.dlqTopic = `${this.name}.dlq`;
    this.group = `${this.name}.group`;
    this.prefix = `${this.name}:`;
    this.database = this.name.replace(/[^A-Za-z0-9_]/g, '_');
    this.services = services;
    this.kafka = new Kafka({
      clientId: 'chaos',
      brokers: services.brokers.split(','),
      logLevel: logLevel.NOTHING,
      retry: { retries: 30, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
    this.admin = this.kafka.admin();
    // Idempotent, so a retried send never writes an event twice and the source stays exact.
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    this.store = new RedisStateStore({
      url: services.redisUrl,
      prefix: this.prefix,
      dimensions: 32,
    });
    // The harness's own client sees the Redis restarts too; its commands retry on their own.
    this.store.client.on('error', () => undefined);
    this.clickhouse = new ClickHouseSink({
      url: services.clickhouseUrl,
      database: this.database,
      username: 'default',
      password: '',
    });
  }

  async setup(partitions = 4): Promise<void> {
    await this.admin.connect();
    await this.producer.connect();
    await this.admin.createTopics({
      topics: [
        { topic: this.topic, numPartitions: partitions },
        {
          topic: this.dlqTopic,
          numPartitions: 1,
          configEntries: [{ name: 'max.message.bytes', value: '1048588' }],
        },
      ],
      waitForLeaders: true,
    });
    this.sampler = setInterval(() => this.sample(), 200);
    this.sampler.unref();
  }

  /** The environment of an engine process of this scenario. */
  engineEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      KAFKA_BROKERS: this.services.brokers,
      KAFKA_EVENTS_TOPIC: this.topic,
      KAFKA_DLQ_TOPIC: this.dlqTopic,
      KAFKA_CONTENTS_TOPIC: `${this.name}.contents`,
      KAFKA_GROUP_ID: this.group,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      REDIS_URL: this.services.redisUrl,
      REDIS_PREFIX: this.prefix,
      CLICKHOUSE_URL: this.services.clickhouseUrl,
      CLICKHOUSE_DATABASE: this.database,
      ANALYTICS_FLUSH_MS: '200',
      ...extra,
    };
  }

  async startEngine(extra: Record<string, string> = {}): Promise<EngineProcess> {
    const engine = await startEngine(this.engineEnv(extra), 90_000);
    this.engines.push(engine);
    return engine;
  }

  /** SIGKILL: no shutdown code runs. */
  async kill(engine: EngineProcess): Promise<void> {
    this.sample();
    await engine.stop('SIGKILL');
  }

  get peakRssBytes(): number {
    this.sample();
    return this.peak;
  }

  /** Sends messages in slices of `slice`, each acknowledged by every replica. */
  async produce(messages: readonly OutMessage[], slice = 1000, topic = this.topic): Promise<void> {
    for (let i = 0; i < messages.length; i += slice) {
      await this.producer.send({
        topic,
        acks: -1,
        messages: messages.slice(i, i + slice) as OutMessage[],
      });
    }
  }

  /** Sends messages at about `perSecond`, in slices, until all are sent. */
  async producePaced(
    messages: readonly OutMessage[],
    perSecond: number,
    slice = 250,
  ): Promise<void> {
    const started = Date.now();
    for (let i = 0; i < messages.length; i += slice) {
      const due = started + (i / perSecond) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: messages.slice(i, i + slice) as OutMessage[],
      });
    }
  }

  /** High watermark of each partition of the events topic. */
  async endOffsets(): Promise<Map<number, string>> {
    const offsets = await this.admin.fetchTopicOffsets(this.topic);
    return new Map(offsets.map((o) => [o.partition, o.high]));
  }

  /** Offsets stored with the state in Redis, by partition. */
  async storedOffsets(): Promise<Map<number, string>> {
    const all = await this.store.client.hgetall(`${this.prefix}off`);
    const out = new Map<number, string>();
    const lead = `${this.group}/${this.topic}/`;
    for (const [field, offset] of Object.entries(all)) {
      if (field.startsWith(lead)) out.set(Number(field.slice(lead.length)), offset);
    }
    return out;
  }

  async storedTotal(): Promise<number> {
    let sum = 0;
    for (const offset of (await this.storedOffsets()).values()) sum += Number(offset);
    return sum;
  }

  /** Offsets committed to Kafka by the consumer group, by partition. */
  async committedOffsets(): Promise<Map<number, string>> {
    const [committed] = await this.admin.fetchOffsets({
      groupId: this.group,
      topics: [this.topic],
    });
    return new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset]));
  }

  /** True once Redis and Kafka hold the end offset of every partition and the outbox is empty. */
  async drained(): Promise<boolean> {
    const [ends, stored, committed] = await Promise.all([
      this.endOffsets(),
      this.storedOffsets(),
      this.committedOffsets(),
    ]);
    const pending = await this.store.pendingAnalyticsCount();
    const parts = [...ends].map(
      ([p, end]) => `p${p} ${stored.get(p) ?? '-'}/${committed.get(p) ?? '-'}/${end}`,
    );
    this.lastState = `stored/committed/end ${parts.join(', ')}; outbox ${pending}`;
    for (const [partition, end] of ends) {
      if (end === '0') continue;
      if (stored.get(partition) !== end || committed.get(partition) !== end) return false;
    }
    return pending === 0;
  }

  async waitDrained(timeoutMs: number): Promise<void> {
    const logs = () => this.engines.at(-1)?.logs().slice(-4000) ?? '';
    await waitFor(
      () => this.drained(),
      timeoutMs,
      () => `${this.lastState}\n${logs()}`,
    );
  }

  /** Per-item counters in Redis (kept with each item record), found by scanning this run's prefix. */
  async redisTotals(): Promise<Map<string, Totals>> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.store.client.scan(
        cursor,
        'MATCH',
        `${this.prefix}i:*`,
        'COUNT',
        1000,
      );
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    const out = new Map<string, Totals>();
    const lead = `${this.prefix}i:`.length;
    for (let i = 0; i < keys.length; i += 500) {
      const ids = keys.slice(i, i + 500).map((k) => k.slice(lead));
      const counts = await Promise.all(ids.map((id) => this.store.getItemCounts(id)));
      ids.forEach((id, j) => out.set(id, counts[j] as Totals));
    }
    return out;
  }

  /**
   * Rows of item_minute that FINAL collapses: batches inserted more than once (a flush retried
   * after a kill or an error). Background merges may already have collapsed some.
   */
  async rowsWrittenTwice(): Promise<number> {
    const table = itemMinuteSql.table(this.database);
    const count = async (final: string) => {
      const result = await this.clickhouse.client.query({
        query: `SELECT count() AS n FROM ${table} ${final}`,
        format: 'JSONEachRow',
      });
      return Number((await result.json<{ n: string | number }>())[0]?.n ?? 0);
    };
    return (await count('')) - (await count('FINAL'));
  }

  /** Compares both stores with the source and fills the common fields of a result. */
  async measure(expected: Map<string, Totals>) {
    const [clickhouse, redis] = await Promise.all([
      this.clickhouse.itemTotals(),
      this.redisTotals(),
    ]);
    const ch = compareTotals(expected, clickhouse);
    const rd = compareTotals(expected, redis);
    return {
      expected: sumTotals(expected),
      actual: ch.total,
      actualRedis: rd.total,
      lost: Math.max(ch.lost, rd.lost),
      duplicated: Math.max(ch.duplicated, rd.duplicated),
    };
  }

  /** Stops every engine still running, deletes the topics, keys and database. */
  async cleanup(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    const dir = process.env.CHAOS_LOGS_DIR;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      this.engines.forEach((engine, i) =>
        writeFileSync(join(dir, `${this.name}-${i}.log`), engine.logs()),
      );
    }
    for (const engine of this.engines) if (alive(engine)) await engine.stop('SIGKILL');
    await this.producer.disconnect().catch(() => undefined);
    await this.admin
      .deleteTopics({ topics: [this.topic, this.dlqTopic, `${this.name}.contents`] })
      .catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.store.client.scan(
          cursor,
          'MATCH',
          `${this.prefix}*`,
          'COUNT',
          1000,
        );
        if (keys.length > 0) await this.store.client.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } catch {
      // a scenario that broke Redis leaves its keys; the prefix is unique
    }
    await this.store.close();
    await this.clickhouse.client
      .command({ query: `DROP DATABASE IF EXISTS ${this.database}` })
      .catch(() => undefined);
    await this.clickhouse.close();
  }

  private sample(): void {
    for (const engine of this.engines) {
      if (alive(engine)) this.peak = Math.max(this.peak, peakRss(engine.child.pid));
    }
  }
}
