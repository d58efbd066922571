import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { buildApi } from '../../src/api/server.ts';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine } from '../../src/engine.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { Recommender } from '../../src/serve/recommender.ts';

describe('a client that stalls mid-body', () => {
  it('is answered 408 and let go once the request timeout passes', async () => {
    const app = buildApi({
      recommender: {} as Recommender,
      intake: { submit: async () => {}, full: () => false, maxEventsPerRequest: Infinity, maxFutureMs: 60_000 },
      metrics: createMetrics(undefined, false),
      logger: pino({ level: 'silent' }),
      ready: async () => true,
      requestTimeoutMs: 300,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    try {
      const started = performance.now();
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write('POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n[{"type":');
        });
        let received = '';
        socket.on('data', (chunk) => (received += chunk));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
        setTimeout(() => reject(new Error(`still open after 3 s: ${received}`)), 3_000).unref();
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
        error: { code: 'request_timeout', message: 'the request did not arrive whole within 300 ms' },
      });
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await app.close();
    }
  });

  it('is cut off half-way to the shutdown deadline, so that a SIGTERM completes', async () => {
    const engine = createEngine(loadConfig({ PORT: '0', HOST: '127.0.0.1', SHUTDOWN_TIMEOUT_MS: '1000' }), pino({ level: 'silent' }));
    const address = new URL(await engine.start());
    const socket = connect(Number(address.port), '127.0.0.1');
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now())));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopping = performance.now();
    await engine.stop();
    const stopped = performance.now() - stopping;
    expect(stopped).toBeGreaterThanOrEqual(450);
    // Without the cut the stop waits on the stalled client for good.
    expect(stopped).toBeLessThan(3_000);
    expect((await closed) - stopping).toBeLessThan(3_000);
  }, 10_000);
});
