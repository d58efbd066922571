import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { buildApi } from '../../src/api/server.ts';
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
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await app.close();
    }
  });
});
