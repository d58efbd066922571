import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ExpirySweeper, SWEEP_LIMIT } from '../../src/state/sweep.ts';

const until = async (done: () => boolean, what: string) => {
  const deadline = Date.now() + 5_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** A logger that keeps what it was told at warn and info. */
function recordingLogger() {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line).msg as string) });
  return { logger, lines };
}

describe('expiry sweeper', () => {
  it('drains a backlog in one tick, a limit at a time, and sweeps again on the next', async () => {
    let backlog = 2 * SWEEP_LIMIT + 500;
    const calls: number[] = [];
    const sweeper = new ExpirySweeper({
      sweep: async (limit) => {
        const n = Math.min(limit, backlog);
        backlog -= n;
        calls.push(n);
        return n;
      },
      intervalMs: 20,
      logger: recordingLogger().logger,
    });
    sweeper.start();
    await until(() => calls.length >= 3, 'no sweep');
    expect(calls.slice(0, 3)).toEqual([SWEEP_LIMIT, SWEEP_LIMIT, 500]);
    backlog = 7;
    await until(() => calls.includes(7), 'no later sweep');
    await sweeper.stop();
    const after = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(calls.length).toBe(after);
  });

  it('says once that sweeps fail, once that they work again, and waits for a sweep in progress to stop', async () => {
    const { logger, lines } = recordingLogger();
    let failing = true;
    let release: () => void = () => undefined;
    let calls = 0;
    const sweeper = new ExpirySweeper({
      sweep: async () => {
        calls++;
        if (failing) throw new Error('connection lost');
        await new Promise<void>((resolve) => (release = resolve));
        return 0;
      },
      intervalMs: 10,
      logger,
    });
    sweeper.start();
    await until(() => calls >= 4, 'too few sweeps');
    expect(lines).toEqual(['expired entries not swept; retrying on the next tick']);
    failing = false;
    const before = calls;
    await until(() => calls > before, 'no sweep after the failures');
    let stopped = false;
    const stopping = sweeper.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(lines).toEqual(['expired entries not swept; retrying on the next tick', 'expired entries swept again']);
  });
});
