import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionEvent } from '../../src/events/schema.ts';
import { createPacer, httpSink, replayEvents, type EventSink } from '../../src/commands/replay.ts';

const events: InteractionEvent[] = Array.from({ length: 1200 }, (_, i) => ({
  type: i % 3 === 0 ? 'click' : 'view',
  userId: `u${i % 7}`,
  itemId: `i${i % 11}`,
  ts: 1_000_000 + i,
}));

function collectingSink(): EventSink & { batches: InteractionEvent[][] } {
  const batches: InteractionEvent[][] = [];
  return { batches, send: async (b) => void batches.push(b), close: async () => {} };
}

describe('replay', () => {
  it('sends every event once, in order, in batches of the given size', async () => {
    const sink = collectingSink();
    const result = await replayEvents(events, sink, { batchSize: 500 });
    expect(result).toMatchObject({ sent: 1200, batches: 3, stopped: false });
    expect(sink.batches.map((b) => b.length)).toEqual([500, 500, 200]);
    expect(sink.batches.flat()).toEqual(events);
  });

  it('paces to the rate on a virtual clock', async () => {
    let now = 0;
    const sleep = async (ms: number) => {
      now += ms;
    };
    const sink = collectingSink();
    const result = await replayEvents(events, sink, { rate: 400, now: () => now, sleep });
    expect(sink.batches.every((b) => b.length <= 400)).toBe(true);
    expect(result.sent).toBe(1200);
    expect(now).toBeCloseTo(3000, 6);
  });

  it('a token bucket never lends more than its burst', async () => {
    let now = 0;
    const pacer = createPacer(100, 10, { now: () => now, sleep: async (ms) => void (now += ms) });
    now = 60_000;
    await pacer.take(10);
    expect(now).toBe(60_000);
    await pacer.take(10);
    expect(now).toBeCloseTo(60_100, 6);
  });
});

describe('http sink', () => {
  let server: Server;
  let url: string;
  let calls = 0;
  const received: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        calls++;
        if (calls === 1) {
          res.writeHead(503, { 'retry-after': '0' }).end();
          return;
        }
        const lines = body.trim().split('\n');
        received.push(...lines);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ accepted: lines.length - 1, rejected: 1, errors: [{ index: 0, field: 'userId', reason: 'r' }] }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('retries a 503, posts NDJSON, and sums the answers with indexes across batches', async () => {
    const sink = httpSink({ url, backoffMs: 1 });
    await replayEvents(events.slice(0, 20), sink, { batchSize: 10 });
    expect(calls).toBe(3);
    expect(received.map((l) => JSON.parse(l))).toEqual(events.slice(0, 20));
    expect(sink.totals.accepted).toBe(18);
    expect(sink.totals.rejected).toBe(2);
    expect(sink.totals.errors.map((e) => e.index)).toEqual([0, 10]);
  });
});
