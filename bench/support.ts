import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { InteractionEvent } from '../src/events/schema.ts';

/** One row of the benchmark table. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  /** The target as text, e.g. ">= 50000"; empty when the row only informs. */
  target: string;
}

export interface Servers {
  brokers: string;
  redisUrl: string;
  clickhouseUrl: string;
}

export function servers(env: Record<string, string | undefined> = process.env): Servers {
  const brokers = env.KAFKA_BROKERS;
  const redisUrl = env.REDIS_URL;
  const clickhouseUrl = env.CLICKHOUSE_URL;
  if (!brokers || !redisUrl || !clickhouseUrl) {
    throw new Error('KAFKA_BROKERS, REDIS_URL and CLICKHOUSE_URL must be set: run `npm run bench`, which starts the servers');
  }
  return { brokers, redisUrl, clickhouseUrl };
}

export function kafkaClient(brokers: string): Kafka {
  return new Kafka({ clientId: 'freshet-bench', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
}

export function uniqueName(base: string): string {
  return `${base}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Produces events to a new topic, keyed by user, in large batches. */
export async function produceAll(kafka: Kafka, topic: string, events: readonly InteractionEvent[], partitions = 4): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const chunk = 10_000;
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < events.length; i += chunk) {
    inflight.push(
      producer.send({
        topic,
        acks: 1,
        messages: events.slice(i, i + chunk).map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
      }),
    );
    if (inflight.length >= 4) await inflight.shift();
  }
  await Promise.all(inflight);
  await producer.disconnect();
}

/** Sum over partitions of the group's committed offsets. */
export async function committedTotal(admin: Admin, group: string, topic: string): Promise<number> {
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return (committed?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

/** CPU-seconds the whole machine has spent busy (all cores, not idle nor waiting on I/O), from /proc. */
export function machineBusySeconds(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** CPU-seconds the Redis server has used (user and system), from INFO. */
export async function redisCpuSeconds(redis: { info(section: string): Promise<string> }): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/**
 * The pid of a server started by scripts/services.sh (its pid file under FRESHET_SERVICES_DIR),
 * if it runs on this machine; undefined for servers started otherwise (Docker, say).
 */
export function serverPid(name: 'clickhouse' | 'kafka', env: Record<string, string | undefined> = process.env): number | undefined {
  if (!env.FRESHET_SERVICES_DIR) return undefined;
  try {
    const pid = Number(readFileSync(`${env.FRESHET_SERVICES_DIR}/${name}.pid`, 'utf8').trim());
    cpuSeconds(pid);
    return pid;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
