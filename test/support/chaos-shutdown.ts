import { goodEvents, seeded, toMessage, totalsOf } from './chaos-data.ts';
import {
  ChaosRun,
  check,
  compareTotals,
  sleep,
  timedStop,
  type ChaosServices,
  type ScenarioResult,
} from './chaos.ts';
import { waitFor } from './engine-process.ts';

export interface ShutdownOptions {
  events: number;
  /** SIGTERMs while the engine works through the backlog. */
  stops: number;
  seed: number;
}

/** The longest a SIGTERM may take to end the process. */
export const SHUTDOWN_BOUND_MS = 10_000;
/** A long session: a re-join faster than this proves the stopped member left the group. */
const SESSION_MS = 30_000;

/**
 * Shutdown: SIGTERM while the engine works through a backlog. It must stop
 * fetching, finish and commit the batch it holds (Redis and Kafka agree on
 * every partition), flush the analytics outbox (ClickHouse equals Redis),
 * leave its group, and exit 0 within the bound.
 */
export async function shutdownScenario(
  services: ChaosServices,
  options: ShutdownOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const run = new ChaosRun('shutdown', services);
  const random = seeded(options.seed ^ 0x7465726d);
  try {
    await run.setup(4);
    const events = goodEvents(options.events, options.seed);
    await run.produce(events.map(toMessage), 2_000);
    const env = { KAFKA_SESSION_TIMEOUT_MS: String(SESSION_MS), BATCH_MAX_EVENTS: '200' };

    const exits: Array<{ code: number | null; ms: number }> = [];
    const joins: number[] = [];
    const midStream: number[] = [];
    const disagreements: string[] = [];
    for (let i = 0; i < options.stops; i++) {
      const t0 = Date.now();
      const engine = await run.startEngine(env);
      joins.push(Date.now() - t0);
      const before = await run.storedTotal();
      await waitFor(
        async () => (await run.storedTotal()) > before,
        60_000,
        () => engine.logs().slice(-3000),
      );
      await sleep(Math.floor(random() * 300));
      exits.push(await timedStop(engine));

      const [stored, committed, pending] = await Promise.all([
        run.storedOffsets(),
        run.committedOffsets(),
        run.store.pendingAnalyticsCount(),
      ]);
      const total = [...stored.values()].reduce((sum, o) => sum + Number(o), 0);
      if (total < events.length) midStream.push(total);
      for (const [p, offset] of stored) {
        if (committed.get(p) !== offset)
          disagreements.push(`stop ${i + 1} p${p}: redis ${offset} kafka ${committed.get(p)}`);
      }
      if (pending !== 0) disagreements.push(`stop ${i + 1}: ${pending} batches left in the outbox`);
      const [clickhouse, redis] = await Promise.all([
        run.clickhouse.itemTotals(),
        run.redisTotals(),
      ]);
      const diff = compareTotals(redis, clickhouse);
      if (diff.lost + diff.duplicated > 0)
        disagreements.push(
          `stop ${i + 1}: ClickHouse differs from Redis by ${diff.lost + diff.duplicated}`,
        );
    }

    const last = await run.startEngine(env);
    await run.waitDrained(120_000);
    exits.push(await timedStop(last));
    const measured = await run.measure(totalsOf(events));
    const slowest = Math.max(...exits.map((e) => e.ms));
    const restarts = joins.slice(1);
    return {
      name: 'shutdown',
      events: events.length,
      faults: options.stops,
      ...measured,
      peakRssBytes: run.peakRssBytes,
      durationMs: Date.now() - started,
      checks: [
        check(
          `every SIGTERM exits 0 within ${SHUTDOWN_BOUND_MS / 1000} s`,
          exits.every((e) => e.code === 0) && slowest < SHUTDOWN_BOUND_MS,
          `exit codes ${exits.map((e) => e.code).join(', ')}; times ${exits.map((e) => e.ms).join(', ')} ms`,
        ),
        check(
          'stops fetching mid-stream',
          midStream.length === options.stops,
          `applied ${midStream.join(', ')} of ${events.length} events when the process ended`,
        ),
        check(
          'open batch committed and analytics flushed before exit',
          disagreements.length === 0,
          disagreements.length
            ? disagreements.slice(0, 4).join('; ')
            : 'Redis = Kafka offsets, empty outbox, ClickHouse = Redis, at every stop',
        ),
        check(
          'leaves the group: the next process joins at once',
          restarts.every((ms) => ms < SESSION_MS / 2),
          `joined in ${restarts.join(', ')} ms (session timeout ${SESSION_MS} ms)`,
        ),
      ],
    };
  } finally {
    await run.cleanup();
  }
}
