import { goodEvents, toMessage, totalsOf } from './chaos-data.ts';
import {
  ChaosRun,
  alive,
  check,
  serviceControl,
  strayLines,
  type ChaosServices,
  type ScenarioResult,
} from './chaos.ts';
import { waitFor, type EngineProcess } from './engine-process.ts';

export interface BrokerOptions {
  events: number;
  restarts: number;
  seed: number;
}

async function progress(run: ChaosRun, engine: EngineProcess, what: string): Promise<number> {
  const before = await run.storedTotal();
  const started = Date.now();
  await waitFor(
    async () => (await run.storedTotal()) > before,
    120_000,
    () => `no progress ${what}\n${engine.logs().slice(-3000)}`,
  );
  return Date.now() - started;
}

/**
 * Broker restart: Kafka is restarted under load, several times. The one engine
 * process reconnects, re-joins its group, resumes where its state says, and
 * every event counts once.
 */
export async function brokerScenario(
  services: ChaosServices,
  options: BrokerOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const run = new ChaosRun('broker', services);
  try {
    await run.setup(4);
    const events = goodEvents(options.events, options.seed);
    const engine = await run.startEngine();
    const pid = engine.child.pid;
    const producing = run.producePaced(
      events.map(toMessage),
      options.events / (options.restarts * 20 + 10),
    );

    const resumed: number[] = [];
    for (let i = 0; i < options.restarts; i++) {
      await progress(run, engine, 'before the Kafka restart');
      await serviceControl('restart-one', 'kafka');
      resumed.push(await progress(run, engine, 'after the Kafka restart'));
    }
    await producing;
    await run.waitDrained(180_000);
    const survived = alive(engine);
    const stray = strayLines(engine.logs());
    const exitCode = await engine.stop('SIGTERM');
    const measured = await run.measure(totalsOf(events));
    return {
      name: 'broker-restart',
      events: events.length,
      faults: options.restarts,
      ...measured,
      peakRssBytes: run.peakRssBytes,
      durationMs: Date.now() - started,
      checks: [
        check(
          'one process throughout',
          survived,
          `pid ${pid} ${survived ? 'alive' : 'dead'} after ${options.restarts} restarts`,
        ),
        check(
          'resumes after each restart',
          resumed.length === options.restarts,
          `applied again ${resumed.join(', ')} ms after Kafka was back`,
        ),
        check(
          'no error escapes to the console',
          stray.length === 0,
          `${stray.length} lines: ${stray.slice(0, 3).join(' | ')}`,
        ),
        check('exits 0 on SIGTERM', exitCode === 0, `exit code ${exitCode}`),
      ],
    };
  } finally {
    await run.cleanup();
  }
}
