import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { retryUntilDone } from '../../src/retry.ts';

function recorder() {
  const lines: Array<{ msg: string; attempt: number; waitMs: number }> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { lines, logger };
}

describe('retry until done', () => {
  it('runs the step again after each failure, waiting twice as long each time up to the most, and logs each', async () => {
    const { lines, logger } = recorder();
    let calls = 0;
    const started = performance.now();
    const result = await retryUntilDone(
      async () => {
        calls++;
        if (calls < 4) throw new Error(`failure ${calls}`);
        return 'done';
      },
      { what: 'step failed', logger, stopped: () => false, firstWaitMs: 20, maxWaitMs: 50 },
    );
    expect(result).toBe('done');
    expect(calls).toBe(4);
    expect(lines.map((l) => [l.msg, l.attempt, l.waitMs])).toEqual([
      ['step failed; retrying', 1, 20],
      ['step failed; retrying', 2, 40],
      ['step failed; retrying', 3, 50],
    ]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('gives up once stopped, also in the middle of a wait', async () => {
    const { logger } = recorder();
    let stopped = false;
    let calls = 0;
    setTimeout(() => (stopped = true), 150);
    const started = performance.now();
    const result = await retryUntilDone(
      async () => {
        calls++;
        throw new Error('always');
      },
      { what: 'step failed', logger, stopped: () => stopped, firstWaitMs: 60_000 },
    );
    expect(result).toBeUndefined();
    expect(calls).toBe(1);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('throws at once an error no retry mends', async () => {
    const { lines, logger } = recorder();
    let calls = 0;
    const refused = new Error('NOPERM');
    const attempt = retryUntilDone(
      async () => {
        calls++;
        throw calls === 1 ? new Error('connection lost') : refused;
      },
      { what: 'step failed', logger, stopped: () => false, firstWaitMs: 10, permanent: (err) => err === refused },
    );
    await expect(attempt).rejects.toBe(refused);
    expect(calls).toBe(2);
    expect(lines).toHaveLength(1);
  });

  it('does not run the step when already stopped', async () => {
    const { logger } = recorder();
    let calls = 0;
    expect(await retryUntilDone(async () => ++calls, { what: 'x', logger, stopped: () => true })).toBeUndefined();
    expect(calls).toBe(0);
  });
});
