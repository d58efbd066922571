import type { KafkaMessage } from 'kafkajs';
import {
  badMessages,
  goodEvents,
  seeded,
  toMessage,
  totalsOf,
  type BadMessage,
  type OutMessage,
} from './chaos-data.ts';
import { ChaosRun, alive, check, type ChaosServices, type ScenarioResult } from './chaos.ts';
import { waitFor } from './engine-process.ts';

export interface BadInputOptions {
  good: number;
  bad: number;
  seed: number;
  /** Messages of about a megabyte among the bad ones. */
  megabytes: number;
}

const PARTITIONS = 4;
/** Bytes per produce request: a record batch must stay under Kafka's 1 MiB limit. */
const SEND_BYTES = 900_000;

interface Placed {
  message: OutMessage;
  partition: number;
  bad: BadMessage | undefined;
}

function size(m: OutMessage): number {
  return (m.key?.length ?? 0) + (m.value?.length ?? 0);
}

/** Reads a whole topic once, from the beginning to the current end. */
export async function readTopic(run: ChaosRun, topic: string): Promise<KafkaMessage[]> {
  const ends = await run.admin.fetchTopicOffsets(topic);
  const total = ends.reduce((sum, o) => sum + Number(o.high), 0);
  const out: KafkaMessage[] = [];
  if (total === 0) return out;
  const consumer = run.kafka.consumer({
    groupId: `${run.name}.reader.${Date.now()}`,
    maxBytesPerPartition: 2 ** 22,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void out.push(message) });
  try {
    await waitFor(
      async () => out.length >= total,
      60_000,
      () => `read ${out.length} of ${total} messages of ${topic}`,
    );
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/**
 * Bad input: fuzzed messages interleaved with good events, each placed on a
 * known partition so its offset is known. Every bad one must be in the
 * dead-letter topic with a reason naming the expected field, no good one may
 * be there, every good one must be counted, and the one engine process must
 * live through all of it.
 */
export async function badInputScenario(
  services: ChaosServices,
  options: BadInputOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const run = new ChaosRun('input', services);
  const random = seeded(options.seed ^ 0x62616421);
  try {
    await run.setup(PARTITIONS);
    const events = goodEvents(options.good, options.seed, { idPrefix: 'g' });
    const bad = badMessages(options.bad, options.seed, {
      now: Date.now(),
      futureMs: 300_000,
      megabytes: options.megabytes,
    });

    // Interleave at random, then number each message within its partition.
    const placed: Placed[] = [];
    let g = 0;
    let b = 0;
    while (g < events.length || b < bad.length) {
      const takeBad =
        b < bad.length &&
        (g >= events.length || random() < bad.length / (bad.length + events.length));
      if (takeBad) {
        const m = bad[b++] as BadMessage;
        placed.push({ message: m, partition: Math.floor(random() * PARTITIONS), bad: m });
      } else {
        const e = events[g++] as (typeof events)[number];
        placed.push({ message: toMessage(e), partition: hashPartition(e.userId), bad: undefined });
      }
    }
    const expectedLetters = new Map<string, BadMessage>();
    const next = new Array<number>(PARTITIONS).fill(0);
    const goodAt = new Set<string>();
    for (const p of placed) {
      const at = `${p.partition}/${next[p.partition]}`;
      next[p.partition] = (next[p.partition] as number) + 1;
      if (p.bad) expectedLetters.set(at, p.bad);
      else goodAt.add(at);
    }

    const engine = await run.startEngine();
    await sendSized(run, placed);
    const sent = Date.now();
    await run.waitDrained(180_000);
    const drainMs = Date.now() - sent;
    const survived = alive(engine);
    const pid = engine.child.pid;

    const letters = await readTopic(run, run.dlqTopic);
    const seen = new Map<string, { field: string; reason: string }>();
    let truncated = 0;
    for (const letter of letters) {
      const header = (name: string) => letter.headers?.[name]?.toString() ?? '';
      if (header('freshet-truncated') !== '' && (letter.value?.length ?? 0) <= 65_536) truncated++;
      seen.set(`${header('freshet-partition')}/${header('freshet-offset')}`, {
        field: header('freshet-field'),
        reason: header('freshet-reason'),
      });
    }
    const missing: string[] = [];
    const wrongField: string[] = [];
    for (const [at, m] of expectedLetters) {
      const letter = seen.get(at);
      if (letter === undefined) missing.push(`${at} ${m.kind}`);
      else if (letter.field !== m.field || letter.reason === '') {
        wrongField.push(
          `${at} ${m.kind}: expected ${m.field}, got ${letter.field} (${letter.reason})`,
        );
      }
    }
    const goodRejected = [...seen.keys()].filter((at) => goodAt.has(at));
    const exitCode = await engine.stop('SIGTERM');
    const measured = await run.measure(totalsOf(events));
    const kinds = new Set(bad.map((m) => m.kind));

    return {
      name: 'bad-input',
      events: events.length,
      faults: bad.length,
      ...measured,
      peakRssBytes: run.peakRssBytes,
      durationMs: Date.now() - started,
      checks: [
        check(
          'every bad message is dead-lettered with its reason',
          missing.length === 0,
          `${expectedLetters.size - missing.length} of ${expectedLetters.size} (${kinds.size} kinds)` +
            (missing.length ? `; missing ${missing.slice(0, 5).join(', ')}` : ''),
        ),
        check(
          'each reason names the offending field',
          wrongField.length === 0,
          wrongField.length
            ? wrongField.slice(0, 5).join('; ')
            : `${expectedLetters.size - missing.length} fields as expected`,
        ),
        check(
          'huge messages are cut in the dead-letter topic',
          truncated === bad.filter((m) => (m.value?.length ?? 0) > 65_536).length,
          `${truncated} letters cut to 64 KiB with their original size in a header`,
        ),
        check(
          'no good event is dead-lettered',
          goodRejected.length === 0,
          `${goodRejected.length} good events in the DLQ`,
        ),
        check(
          'dead letters are at least once',
          letters.length >= seen.size,
          `${letters.length} letters for ${seen.size} distinct source offsets`,
        ),
        check('one process throughout, no crash', survived, `pid ${pid} alive until SIGTERM`),
        check('exits 0 on SIGTERM', exitCode === 0, `exit code ${exitCode}`),
        check(
          'no partition blocked',
          true,
          `every partition at its end offset ${drainMs} ms after the last send`,
        ),
      ],
    };
  } finally {
    await run.cleanup();
  }
}

/** Sends in requests of at most SEND_BYTES, each message on its given partition. */
async function sendSized(run: ChaosRun, placed: readonly Placed[]): Promise<void> {
  let batch: Placed[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await run.producer.send({
      topic: run.topic,
      acks: -1,
      messages: batch.map((p) => ({
        key: p.message.key,
        value: p.message.value,
        partition: p.partition,
      })),
    });
    batch = [];
    bytes = 0;
  };
  for (const p of placed) {
    if (bytes + size(p.message) > SEND_BYTES) await flush();
    batch.push(p);
    bytes += size(p.message);
  }
  await flush();
}

function hashPartition(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) >>> 0;
  return h % PARTITIONS;
}
