import { goodEvents, toMessage, totalsOf } from './chaos-data.ts';
import {
  ChaosRun,
  alive,
  check,
  currentRss,
  metricSum,
  serviceControl,
  sleep,
  strayLines,
  type ChaosServices,
  type ScenarioResult,
} from './chaos.ts';
import { waitFor, type EngineProcess } from './engine-process.ts';

/** Most the engine's resident memory may grow while it is paused on the outbox bound. */
const PAUSED_GROWTH_BYTES = 32 * 2 ** 20;

/** kafkajs's words when the coordinator dropped a member whose session expired. */
const REJOINED = /coordinator is not aware of this member/;

export interface OutageOptions {
  events: number;
  /** Redis restarts before the ClickHouse outage. */
  redisRestarts: number;
  /** How long ClickHouse stays stopped, ms. */
  clickhouseDownMs: number;
  /** ANALYTICS_MAX_PENDING of the engine: outbox batches at which it pauses. */
  maxPending: number;
  seed: number;
}

interface Sample {
  at: number;
  outbox: number;
  stored: number;
  end: number;
  rss: number;
}

async function progress(run: ChaosRun, engine: EngineProcess, what: string): Promise<void> {
  const before = await run.storedTotal();
  await waitFor(
    async () => (await run.storedTotal()) > before,
    60_000,
    () => `no progress ${what}\n${engine.logs().slice(-3000)}`,
  );
}

/**
 * Store outages: Redis restarted under load, then ClickHouse stopped. While
 * ClickHouse is down the engine may fill its analytics outbox up to
 * ANALYTICS_MAX_PENDING batches and must then stop consuming, with its memory
 * flat; once ClickHouse is back it catches up and every event counts once.
 */
export async function outageScenario(
  services: ChaosServices,
  options: OutageOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const run = new ChaosRun('outage', services);
  let clickhouseStopped = false;
  try {
    await run.setup(4);
    const events = goodEvents(options.events, options.seed);
    const engine = await run.startEngine({ ANALYTICS_MAX_PENDING: String(options.maxPending) });
    const pid = engine.child.pid;
    // Input keeps arriving through both outages and the recovery.
    const seconds = options.redisRestarts * 6 + options.clickhouseDownMs / 1000 + 15;
    const producing = run.producePaced(events.map(toMessage), options.events / seconds);

    for (let i = 0; i < options.redisRestarts; i++) {
      await progress(run, engine, 'before the Redis restart');
      await serviceControl('restart-one', 'redis');
      await progress(run, engine, 'after the Redis restart');
    }
    const survivedRedis = alive(engine);

    await progress(run, engine, 'before the ClickHouse outage');
    await serviceControl('stop-one', 'clickhouse');
    clickhouseStopped = true;
    const downAt = Date.now();
    const samples: Sample[] = [];
    while (Date.now() - downAt < options.clickhouseDownMs) {
      const [outbox, stored, ends] = await Promise.all([
        run.store.pendingAnalyticsCount(),
        run.storedTotal(),
        run.endOffsets(),
      ]);
      const end = [...ends.values()].reduce((sum, o) => sum + Number(o), 0);
      samples.push({ at: Date.now() - downAt, outbox, stored, end, rss: currentRss(pid) });
      if (process.env.CHAOS_DEBUG) {
        const heap = await metricSum(engine.url, 'freshet_nodejs_heap_size_used_bytes');
        process.stderr.write(
          `${JSON.stringify(samples.at(-1))} heap ${(heap / 2 ** 20).toFixed(0)}\n`,
        );
      }
      await sleep(500);
    }
    await serviceControl('start-one', 'clickhouse');
    clickhouseStopped = false;
    const upAt = Date.now();
    await producing;
    await run.waitDrained(240_000);
    const catchUpMs = Date.now() - upAt;

    // Idle sockets: nothing to do for longer than the servers' keep-alive, then more input.
    await sleep(5_000);
    const extra = goodEvents(500, options.seed + 1, { idPrefix: 'late-' });
    await run.produce(extra.map(toMessage));
    await run.waitDrained(60_000);
    const survived = alive(engine);
    const logs = engine.logs();
    const stray = strayLines(logs);
    const exitCode = await engine.stop('SIGTERM');
    const measured = await run.measure(totalsOf([...events, ...extra]));

    const maxOutbox = Math.max(...samples.map((s) => s.outbox));
    const last = samples.at(-1) as Sample;
    // Paused: over the last third of the outage nothing more was applied, while input kept coming.
    const tail = samples.filter((s) => s.at >= options.clickhouseDownMs * (2 / 3));
    const first = tail[0] as Sample;
    // Memory while paused: from the first sample at the bound to the end of the outage.
    const paused = samples.filter((s) => s.outbox >= options.maxPending);
    const pausedFrom = paused[0]?.rss ?? 0;
    const rssGrowth = Math.max(...paused.map((s) => s.rss)) - pausedFrom;
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    return {
      name: 'store-outages',
      events: events.length + extra.length,
      faults: options.redisRestarts + 1,
      ...measured,
      peakRssBytes: run.peakRssBytes,
      durationMs: Date.now() - started,
      checks: [
        check(
          'survives Redis restarts',
          survivedRedis,
          `${options.redisRestarts} restarts, pid ${pid} alive`,
        ),
        check(
          'outbox stays within its bound',
          maxOutbox <= options.maxPending && maxOutbox >= options.maxPending / 2,
          `at most ${maxOutbox} pending batches (ANALYTICS_MAX_PENDING ${options.maxPending})`,
        ),
        check(
          'pauses consuming while ClickHouse is down',
          last.stored === first.stored && last.end > last.stored,
          `applied ${first.stored} -> ${last.stored} over the last third of the outage, backlog ${last.end - last.stored}`,
        ),
        check(
          'memory stays flat while paused',
          paused.length > 0 && rssGrowth < PAUSED_GROWTH_BYTES,
          `RSS ${mib(pausedFrom)} + ${mib(rssGrowth)} over ${paused.length} samples at the bound`,
        ),
        check(
          'catches up after ClickHouse returns',
          true,
          `drained ${catchUpMs} ms after ClickHouse was back`,
        ),
        check(
          'idle sockets never crash the process',
          survived && stray.length === 0,
          `pid ${pid} ${survived ? 'alive' : 'dead'}; ${stray.length} lines outside the log: ${stray.slice(0, 3).join(' | ')}`,
        ),
        check(
          'stays in its consumer group while paused',
          !REJOINED.test(logs),
          REJOINED.test(logs) ? 'the group dropped the engine and it re-joined' : 'no re-join',
        ),
        check('exits 0 on SIGTERM', exitCode === 0, `exit code ${exitCode}`),
      ],
    };
  } finally {
    if (clickhouseStopped) await serviceControl('start-one', 'clickhouse').catch(() => undefined);
    await run.cleanup();
  }
}
