import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clickhouseLogClass } from '../../src/analytics/clickhouse-log.ts';
import { RedisStateStore } from '../../src/state/redis.ts';

/** A pino logger whose lines land in `lines`. */
function capture(level = 'debug') {
  const lines: Array<{ level: number; msg: string; component?: string }> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('store clients', () => {
  // Regression: without an 'error' listener ioredis printed every failed reconnect to the
  // console ("[ioredis] Unhandled error event") while Redis restarted.
  it('should report a lost Redis connection once in the log and never on the console', async () => {
    const consoleError = vi.spyOn(console, 'error');
    const { logger, lines } = capture();
    const store = new RedisStateStore({
      url: `redis://127.0.0.1:${await closedPort()}`,
      prefix: 't:',
      dimensions: 4,
      logger,
      redis: { retryStrategy: () => 20, maxRetriesPerRequest: 2 },
    });
    await expect(store.readOffset('p')).rejects.toThrow();
    await store.close();
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[40, 'redis connection lost; retrying']]);
    expect(consoleError).not.toHaveBeenCalled();
  });

  // Regression: @clickhouse/client's default logger printed each failed insert to the
  // console while ClickHouse was down; the flusher already reports and retries them.
  it('should route the ClickHouse client log into ours at debug level', () => {
    const consoleError = vi.spyOn(console, 'error');
    const { logger, lines } = capture();
    const Logger = clickhouseLogClass(logger);
    new Logger().error({
      module: 'Connection',
      message: 'Insert: HTTP request error.',
      err: new Error('ECONNREFUSED'),
    });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[20, 'Insert: HTTP request error.']]);
    expect(consoleError).not.toHaveBeenCalled();
  });
});
