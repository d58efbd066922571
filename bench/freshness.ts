import type { Kafka } from 'kafkajs';
import { percentile, sleep } from './support.ts';

export interface FreshnessResult {
  rate: number;
  probes: number;
  p50Ms: number;
  p99Ms: number;
  /** Probes not visible within the timeout. */
  missed: number;
}

/**
 * Produces background events at a steady rate and, every 100 ms, a probe
 * click on an item of its own; the latency is from the probe's produce call
 * to the first API answer that counts it.
 */
export async function benchFreshness(
  kafka: Kafka,
  topic: string,
  url: string,
  clock: number,
  rate: number,
  seconds: number,
  log: (line: string) => void,
): Promise<FreshnessResult> {
  const producer = kafka.producer();
  await producer.connect();
  log(`freshness: ${rate} events/s for ${seconds} s with a probe every 100 ms`);
  const stopAt = performance.now() + seconds * 1000;
  let sent = 0;
  const background = (async () => {
    const started = performance.now();
    while (performance.now() < stopAt) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate) - sent;
      if (due > 0) {
        const messages = Array.from({ length: due }, (_, i) => {
          const n = sent + i;
          const event = { type: n % 4 === 0 ? 'click' : 'view', userId: `bg${n % 5000}`, itemId: `bgi${n % 20000}`, ts: clock + n };
          return { key: event.userId, value: JSON.stringify(event) };
        });
        sent += due;
        await producer.send({ topic, acks: 1, messages });
      }
      await sleep(10);
    }
  })();

  const latencies: number[] = [];
  let missed = 0;
  const probes: Promise<void>[] = [];
  for (let n = 0; performance.now() < stopAt; n++) {
    const item = `probe-${Date.now().toString(36)}-${n}`;
    probes.push(
      (async () => {
        const start = performance.now();
        await producer.send({
          topic,
          acks: 1,
          messages: [{ key: `probe-user-${n}`, value: JSON.stringify({ type: 'click', userId: `probe-user-${n}`, itemId: item, ts: clock + 1 }) }],
        });
        while (performance.now() - start < 10_000) {
          const response = await fetch(`${url}/v1/items/${item}/stats`);
          if (response.status === 200 && ((await response.json()) as { clicks: number }).clicks >= 1) {
            latencies.push(performance.now() - start);
            return;
          }
          await sleep(2);
        }
        missed++;
      })(),
    );
    await sleep(100);
  }
  await Promise.all([background, ...probes]);
  await producer.disconnect();
  latencies.sort((a, b) => a - b);
  return { rate, probes: probes.length, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), missed };
}
