import { describe, expect, it } from 'vitest';
import {
  createProgress,
  formatCount,
  formatDuration,
  formatProgress,
  type ProgressStream,
} from '../../src/progress.ts';

function fakeStream(isTTY: boolean, columns?: number): ProgressStream & { chunks: string[] } {
  const chunks: string[] = [];
  return {
    chunks,
    isTTY,
    ...(columns === undefined ? {} : { columns }),
    write(chunk: string) {
      chunks.push(chunk);
      return true;
    },
  };
}

function fakeClock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('formatting', () => {
  it('formats counts and durations', () => {
    expect(formatCount(8400)).toBe('8,400');
    expect(formatCount(1_234_567.6)).toBe('1,234,568');
    expect(formatDuration(4)).toBe('4s');
    expect(formatDuration(65)).toBe('1m05s');
    expect(formatDuration(3725)).toBe('1h02m');
  });

  it('renders bar, percent, count, rate and eta', () => {
    const elapsedMs = (8400 * 1000) / 3120;
    expect(formatProgress({ count: 8400, total: 20_000, elapsedMs, barWidth: 10 })).toBe(
      '[####------] 42% 8,400/20,000 3,120/s eta 4s',
    );
    expect(formatProgress({ count: 8400, total: 20_000, elapsedMs, barWidth: 0 })).toBe(
      '42% 8,400/20,000 3,120/s eta 4s',
    );
  });

  it('shows count and rate only when the total is unknown', () => {
    expect(formatProgress({ count: 8400, elapsedMs: 2000 })).toBe('8,400 4,200/s');
    expect(formatProgress({ count: 0, elapsedMs: 0 })).toBe('0 0/s');
  });

  it('shows elapsed time on the final line and caps at 100%', () => {
    const line = formatProgress({
      count: 25,
      total: 20,
      elapsedMs: 65_000,
      finished: true,
      barWidth: 4,
    });
    expect(line).toBe('[####] 100% 25/20 0/s in 1m05s');
  });
});

describe('plain (non-TTY) output', () => {
  it('writes a line each 5% and a final line', () => {
    const stream = fakeStream(false);
    const clock = fakeClock();
    const p = createProgress({ total: 100, stream, now: clock.now, label: 'load' });
    for (let i = 0; i < 100; i++) {
      clock.advance(10);
      p.tick();
    }
    p.done();
    p.done();
    p.tick(5);
    expect(p.count).toBe(100);
    const lines = stream.chunks;
    // 5%, 10%, ..., 95% during the run; 100% is left to done().
    expect(lines).toHaveLength(20);
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(lines[0]).toBe('load 5% 5/100 100/s eta 1s\n');
    expect(lines[18]).toBe('load 95% 95/100 100/s eta 1s\n');
    expect(lines[19]).toBe('load 100% 100/100 100/s in 1s\n');
  });

  it('writes at most every 10 s when the total is unknown', () => {
    const stream = fakeStream(false);
    const clock = fakeClock();
    const p = createProgress({ stream, now: clock.now });
    for (let i = 0; i < 25; i++) {
      clock.advance(1000);
      p.tick(100);
    }
    p.done();
    expect(stream.chunks).toEqual(['1,000 100/s\n', '2,000 100/s\n', '2,500 100/s in 25s\n']);
  });

  it('writes on 10 s even when under 5% moved', () => {
    const stream = fakeStream(false);
    const clock = fakeClock();
    const p = createProgress({ total: 1000, stream, now: clock.now });
    clock.advance(9_999);
    p.tick(1);
    expect(stream.chunks).toHaveLength(0);
    clock.advance(1);
    p.tick(1);
    expect(stream.chunks).toEqual(['0% 2/1,000 0/s eta 1h23m\n']);
  });
});

describe('TTY output', () => {
  it('redraws one line in place, at most every 100 ms, and ends it on done', () => {
    const stream = fakeStream(true);
    const clock = fakeClock();
    const p = createProgress({ total: 200, stream, now: clock.now });
    for (let i = 0; i < 100; i++) {
      clock.advance(10);
      p.tick(2);
    }
    p.done();
    const chunks = stream.chunks;
    expect(chunks).toHaveLength(11); // first tick, then every 100 ms, then done
    expect(chunks.every((c) => c.startsWith('\r') && c.includes('\x1b[K'))).toBe(true);
    expect(chunks.slice(0, -1).some((c) => c.includes('\n'))).toBe(false);
    expect(chunks[0]).toBe('\r[--------------------] 1% 2/200 200/s eta 1s\x1b[K');
    expect(chunks.at(-1)).toBe('\r[####################] 100% 200/200 200/s in 1s\x1b[K\n');
  });

  it('honours the tty override and truncates to the terminal width', () => {
    const stream = fakeStream(false, 30);
    const p = createProgress({ total: 10, stream, tty: true, now: () => 0 });
    p.tick();
    expect(stream.chunks[0]).toBe(`\r${'[##------------------] 10% 1/10'.slice(0, 29)}\x1b[K`);
  });
});
