import { goodEvents, toMessage, totalsOf } from './chaos-data.ts';
import {
  ChaosRun,
  check,
  metricSum,
  sleep,
  timedStop,
  type ChaosServices,
  type ScenarioResult,
} from './chaos.ts';
import { HoldingProxy } from './chaos-proxy.ts';
import { waitFor, type EngineProcess } from './engine-process.ts';

export interface RebalanceOptions {
  events: number;
  seed: number;
}

const SESSION_MS = 6_000;

async function consumed(engine: EngineProcess): Promise<number> {
  return metricSum(engine.url, 'freshet_events_consumed_total');
}

/**
 * Rebalance: two engine processes in one group.
 *
 * 1. A reaches Redis through a proxy that holds its first batch commit and
 *    freezes A (SIGSTOP) right then: a zombie with a batch in flight. Its
 *    session expires, B takes all partitions and resumes each at the offset
 *    stored with the state. Then A wakes (SIGCONT), the held commit reaches
 *    Redis, and the fence in commit.lua must refuse it: its partition's
 *    stored offset is no longer the one A expects.
 * 2. B is killed (SIGKILL) while both work; A takes its partitions over and
 *    resumes at the stored offsets. Every event counts exactly once.
 */
export async function rebalanceScenario(
  services: ChaosServices,
  options: RebalanceOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const run = new ChaosRun('rebalance', services);
  let frozen: EngineProcess | undefined;
  let proxy: HoldingProxy | undefined;
  try {
    await run.setup(4);
    const events = goodEvents(options.events, options.seed);
    const half = Math.floor(events.length / 2);
    const env = { KAFKA_SESSION_TIMEOUT_MS: String(SESSION_MS), BATCH_MAX_EVENTS: '500' };
    const redis = new URL(services.redisUrl);
    proxy = await HoldingProxy.start({ host: redis.hostname, port: Number(redis.port) });
    const a = await run.startEngine({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
    const b = await run.startEngine(env);
    // Both members in the group before any input, so that A starts with part of the partitions.
    await sleep(3_000);

    // Freeze A the moment a batch commit of its own (the commit script, keyed by this run's
    // prefix) leaves for Redis: the proxy holds it and A stops with the batch in flight.
    const commit = new RegExp(
      `evalsha\\r\\n\\$40\\r\\n[0-9a-f]{40}\\r\\n\\$1\\r\\n0\\r\\n\\$\\d+\\r\\n${run.prefix}`,
      'i',
    );
    const held = new Promise<void>((resolve) =>
      proxy?.arm(commit, () => {
        a.child.kill('SIGSTOP');
        resolve();
      }),
    );
    frozen = a;
    await run.produce(events.slice(0, half).map(toMessage), 5_000);
    await held;
    const atFreeze = await run.storedOffsets();
    const frozenAt = Date.now();

    // More input for every partition while A sleeps, so the new owner has work on A's partitions.
    const producing = run.producePaced(
      events.slice(half).map(toMessage),
      (events.length - half) / 40,
    );
    // Every partition, A's included: A's held commit is its first, so A's partitions may have
    // no stored offset at the freeze, and B advancing only its own would not prove a takeover.
    const partitions = [...(await run.endOffsets()).keys()];
    await waitFor(
      async () => {
        const now = await run.storedOffsets();
        return partitions.every((p) => {
          const offset = now.get(p);
          const before = atFreeze.get(p);
          return offset !== undefined && (before === undefined || BigInt(offset) > BigInt(before));
        });
      },
      60_000,
      () => `B did not take over every partition\n${b.logs().slice(-3000)}`,
    );
    const takeoverMs = Date.now() - frozenAt;
    a.child.kill('SIGCONT');
    frozen = undefined;
    proxy.release();
    await waitFor(
      async () => (await metricSum(a.url, 'freshet_commits_fenced_total')) > 0,
      20_000,
      () => a.logs().slice(-3000),
    ).catch(() => undefined);
    const fenced = await metricSum(a.url, 'freshet_commits_fenced_total');

    // A re-joins; once both apply again, B dies mid-work.
    const bBefore = await consumed(b);
    const aBefore = await consumed(a);
    await waitFor(
      async () => (await consumed(a)) > aBefore && (await consumed(b)) > bBefore,
      60_000,
      () => `both members did not resume\n${a.logs().slice(-2000)}`,
    );
    await run.kill(b);
    await producing;
    await run.waitDrained(120_000);
    const skipped = await metricSum(a.url, 'freshet_events_skipped_total');
    const exit = await timedStop(a);
    const measured = await run.measure(totalsOf(events));
    return {
      name: 'rebalance',
      events: events.length,
      faults: 2,
      ...measured,
      peakRssBytes: run.peakRssBytes,
      durationMs: Date.now() - started,
      checks: [
        check(
          'a frozen member loses its partitions to the other',
          true,
          `every partition advanced ${takeoverMs} ms after A froze (session ${SESSION_MS} ms)`,
        ),
        check(
          "the old owner's in-flight batch is refused by the fence",
          fenced > 0 && /batch fenced/.test(a.logs()),
          `A had ${fenced} commits fenced after it woke`,
        ),
        check(
          "the survivor resumes a killed member's partitions at the stored offsets",
          measured.lost === 0 && measured.duplicated === 0,
          `drained; ${skipped} redelivered events skipped by offset on A`,
        ),
        check('exits 0 on SIGTERM', exit.code === 0, `exit code ${exit.code} in ${exit.ms} ms`),
      ],
    };
  } finally {
    frozen?.child.kill('SIGCONT');
    await run.cleanup();
    await proxy?.close();
  }
}
