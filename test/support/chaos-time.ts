import { fileURLToPath } from 'node:url';
import { loadModelParams } from '../../src/config/model-file.ts';
import { totalsOf, type GoodEvent } from './chaos-data.ts';
import { readTopic } from './chaos-input.ts';
import { ChaosRun, check, type ChaosServices, type Check, type ScenarioResult } from './chaos.ts';

/** The engine's tolerance for event times ahead of its wall clock in this scenario. */
const FUTURE_MS = 60_000;
const HOUR = 3_600_000;

/**
 * Time, through Kafka into one engine, step by step (each step drained before
 * the next): events further ahead of the wall clock than MAX_EVENT_FUTURE_MS
 * are dead-lettered and move no clock; one within the tolerance is applied and
 * moves only its own user's and item's clocks plus the global watermark
 * (`store.clock()`, the latest event time applied, which it may push ahead by
 * at most the tolerance); late and out-of-order events are applied, counted
 * exactly, and age nothing backwards (decay never sees a negative age).
 */
export async function timeScenario(services: ChaosServices): Promise<ScenarioResult> {
  const started = Date.now();
  const run = new ChaosRun('time', services);
  const params = loadModelParams(fileURLToPath(new URL('../../pipelines', import.meta.url)));
  const halfLife = params.halfLifeMs.trending;
  const applied: GoodEvent[] = [];
  const checks: Check[] = [];
  try {
    await run.setup(4);
    const engine = await run.startEngine({ MAX_EVENT_FUTURE_MS: String(FUTURE_MS) });
    const send = async (events: GoodEvent[], good: boolean) => {
      await run.produce(events.map((e) => ({ key: e.userId, value: JSON.stringify(e) })));
      if (good) applied.push(...events);
      await run.waitDrained(60_000);
    };
    const user = async (id: string) => (await run.store.getUser(id))?.ts;
    const item = async (id: string) => run.store.getItem(id);

    const now = Date.now();
    const t = now - 10 * 60_000;
    await send(
      [
        { type: 'view', userId: 'ua', itemId: 'ix', ts: t },
        { type: 'click', userId: 'ub', itemId: 'iy', ts: t },
      ],
      true,
    );
    checks.push(
      check(
        'clock is the latest event time applied',
        (await run.store.clock()) === t,
        `clock ${await run.store.clock()}, t ${t}`,
      ),
    );

    const far = now + 86_400_000;
    await send(
      [
        { type: 'click', userId: 'uf', itemId: 'ix', ts: far },
        { type: 'view', userId: 'uf', itemId: 'inew', ts: now + 10 * FUTURE_MS },
      ],
      false,
    );
    const letters = await readTopic(run, run.dlqTopic);
    const fields = letters.map((l) => l.headers?.['freshet-field']?.toString());
    checks.push(
      check(
        `events more than ${FUTURE_MS} ms ahead are dead-lettered`,
        letters.length === 2 && fields.every((f) => f === 'ts') && (await user('uf')) === undefined,
        `${letters.length} letters, fields ${fields.join(', ')}: ${letters[0]?.headers?.['freshet-reason']?.toString()}`,
      ),
    );
    checks.push(
      check(
        'a rejected far-future event moves no clock',
        (await run.store.clock()) === t &&
          (await item('ix'))?.ts === t &&
          (await item('inew')) === undefined,
        `clock ${await run.store.clock()}, item ix at ${(await item('ix'))?.ts}`,
      ),
    );

    const near = now + FUTURE_MS / 2;
    await send([{ type: 'view', userId: 'un', itemId: 'iw', ts: near }], true);
    const others = [
      await user('ua'),
      await user('ub'),
      (await item('ix'))?.ts,
      (await item('iy'))?.ts,
    ];
    const clock = await run.store.clock();
    checks.push(
      check(
        'an event within the tolerance moves only its own clocks and the watermark',
        others.every((ts) => ts === t) &&
          (await user('un')) === near &&
          clock === near &&
          clock <= Date.now() + FUTURE_MS,
        `others at ${others.map((ts) => (ts === t ? 't' : String(ts))).join(', ')}; watermark +${clock - Date.now()} ms ahead`,
      ),
    );

    const before = await item('ix');
    await send([{ type: 'view', userId: 'ua', itemId: 'ix', ts: t - HOUR }], true);
    const after = await item('ix');
    const added = (after?.views ?? 0) - (before?.views ?? 0);
    const expected = 2 ** -(HOUR / halfLife);
    checks.push(
      check(
        'a late event is applied at its decayed weight, never a negative age',
        (await user('ua')) === t &&
          after?.ts === t &&
          Math.abs(added - expected) < 1e-4 &&
          added <= 1,
        `user and item stay at t; decayed views +${added.toFixed(6)} (2^(-1 h / half-life) = ${expected.toFixed(6)})`,
      ),
    );

    const beforeY = await item('iy');
    await send([{ type: 'view', userId: 'ub', itemId: 'iy', ts: t - 365 * 86_400_000 }], true);
    const afterY = await item('iy');
    const addedY = (afterY?.views ?? 0) - (beforeY?.views ?? 0);
    checks.push(
      check(
        'a year-late event is counted exactly and weighs almost nothing',
        afterY?.ts === t && addedY >= 0 && addedY < 1e-6 && (await user('ub')) === t,
        `item iy stays at t, decayed views +${addedY.toExponential(2)}`,
      ),
    );

    await send(
      [
        { type: 'view', userId: 'ud', itemId: 'iv', ts: t },
        { type: 'view', userId: 'ud', itemId: 'iv', ts: t - 5 * 60_000 },
        { type: 'click', userId: 'ud', itemId: 'iv', ts: t - 60_000 },
      ],
      true,
    );
    const iv = await item('iv');
    const ud = (await user('ud')) ?? 0;
    const counts = await run.store.getItemCounts('iv');
    checks.push(
      check(
        'out-of-order events in one batch keep the latest time',
        iv?.ts === t &&
          ud <= t &&
          ud >= t - 5 * 60_000 &&
          counts.views === 2 &&
          counts.clicks === 1,
        `item iv at ${iv?.ts === t ? 't' : iv?.ts}, user at t${ud - t} ms, counts ${counts.views} views ${counts.clicks} clicks`,
      ),
    );

    const exitCode = await engine.stop('SIGTERM');
    const measured = await run.measure(
      totalsOf(applied.filter((e) => e.type === 'view' || e.type === 'click')),
    );
    checks.push(check('exits 0 on SIGTERM', exitCode === 0, `exit code ${exitCode}`));
    return {
      name: 'time',
      events: applied.length,
      // Early or late events: 2 rejected, 1 near-future, 2 late, 2 out of order in one batch.
      faults: 7,
      ...measured,
      peakRssBytes: run.peakRssBytes,
      durationMs: Date.now() - started,
      checks,
    };
  } finally {
    await run.cleanup();
  }
}
