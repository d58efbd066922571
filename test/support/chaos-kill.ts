import { goodEvents, seeded, toMessage, totalsOf } from './chaos-data.ts';
import { ChaosRun, check, sleep, type ChaosServices, type ScenarioResult } from './chaos.ts';
import { waitFor } from './engine-process.ts';

export interface KillOptions {
  events: number;
  kills: number;
  seed: number;
  /** Longest wait after an incarnation's first applied batch before it is killed, ms. */
  maxDelayMs?: number;
}

/**
 * Kill: events flow into Kafka while the engine is SIGKILLed at random moments
 * and restarted each time. Each kill waits for the incarnation to apply a
 * batch first, so it lands in real work (a fetch, a model step, a Redis
 * commit, between the Redis and the Kafka commit, or a ClickHouse insert).
 */
export async function killScenario(
  services: ChaosServices,
  options: KillOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const run = new ChaosRun('kill', services);
  const random = seeded(options.seed ^ 0x6b696c6c);
  const maxDelay = options.maxDelayMs ?? 1_500;
  try {
    await run.setup(4);
    const events = goodEvents(options.events, options.seed);
    // Spread the input over roughly the time the kills take (a restart re-joins the group in ~7 s).
    const producing = run.producePaced(
      events.map(toMessage),
      Math.max(500, options.events / (options.kills * 7)),
    );

    const delays: number[] = [];
    for (let kill = 0; kill < options.kills; kill++) {
      const engine = await run.startEngine();
      const before = await run.storedTotal();
      await waitFor(
        async () => (await run.storedTotal()) > before || (await caughtUp(run, events.length)),
        60_000,
        () => `incarnation ${kill + 1} applied nothing\n${engine.logs().slice(-3000)}`,
      );
      const delay = Math.floor(random() * maxDelay);
      delays.push(delay);
      await sleep(delay);
      await run.kill(engine);
    }
    await producing;

    const last = await run.startEngine();
    await run.waitDrained(180_000);
    const exitCode = await last.stop('SIGTERM');
    const measured = await run.measure(totalsOf(events));
    const twice = await run.rowsWrittenTwice();
    const [ends, stored, committed] = await Promise.all([
      run.endOffsets(),
      run.storedOffsets(),
      run.committedOffsets(),
    ]);
    const endTotal = [...ends.values()].reduce((sum, o) => sum + Number(o), 0);
    return {
      name: 'kill',
      events: events.length,
      faults: options.kills,
      ...measured,
      peakRssBytes: run.peakRssBytes,
      durationMs: Date.now() - started,
      checks: [
        check(
          'source holds each event once',
          endTotal === events.length,
          `${endTotal} messages in the topic`,
        ),
        check(
          'committed offsets equal end offsets',
          [...ends].every(([p, end]) => stored.get(p) === end && committed.get(p) === end),
          [...ends]
            .map(([p, end]) => `p${p} redis ${stored.get(p)} kafka ${committed.get(p)} end ${end}`)
            .join('; '),
        ),
        check(
          'a retried ClickHouse insert counts once',
          measured.actual === measured.expected,
          `${twice} rows inserted again after a kill, collapsed by their batch id`,
        ),
        check('last incarnation exits 0 on SIGTERM', exitCode === 0, `exit code ${exitCode}`),
        check(
          'kills landed at random moments',
          delays.length === options.kills,
          `delays after a batch (ms): ${delays.join(', ')}`,
        ),
      ],
    };
  } finally {
    await run.cleanup();
  }
}

/** True when every event produced so far is stored: nothing left for an incarnation to apply. */
async function caughtUp(run: ChaosRun, total: number): Promise<boolean> {
  const ends = await run.endOffsets();
  const end = [...ends.values()].reduce((sum, o) => sum + Number(o), 0);
  return end === total && (await run.storedTotal()) === end;
}
