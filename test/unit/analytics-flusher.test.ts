import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AnalyticsFlusher } from '../../src/analytics/flusher.ts';
import type { AnalyticsSink } from '../../src/analytics/sink.ts';
import { createMetrics } from '../../src/metrics.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';
import type { AnalyticsBatch } from '../../src/state/store.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An analytics store that refuses every write while `down` is set. */
function flakySink() {
  const written: string[] = [];
  const sink: AnalyticsSink & { down: boolean } = {
    kind: 'clickhouse',
    down: false,
    async write(batches: readonly AnalyticsBatch[]) {
      if (sink.down) throw new Error('connect ECONNREFUSED');
      written.push(...batches.map((b) => b.batchId));
    },
    async close() {},
  };
  return { sink, written };
}

async function commitBatches(store: MemoryStateStore, count: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i++) {
    await store.commit({
      partition: 'g/events/0',
      expectedOffset: i === 0 ? null : String(i),
      nextOffset: String(i + 1),
      effects: undefined,
      analytics: {
        batchId: `events/0/${i}-${i}`,
        rows: [{ minute: 60, itemId: 'i', views: 1, clicks: 0 }],
      },
    });
  }
}

/** An analytics store that records the batches of each write, and runs `during` inside each. */
function recordingSink(during: (write: number) => Promise<void> = async () => {}) {
  const writes: string[][] = [];
  const sink: AnalyticsSink = {
    kind: 'clickhouse',
    async write(batches: readonly AnalyticsBatch[]) {
      writes.push(batches.map((b) => b.batchId));
      await during(writes.length);
    },
    async close() {},
  };
  return { sink, writes };
}

function flusherOf(store: MemoryStateStore, sink: AnalyticsSink, limits: { writeBatches?: number; writeRows?: number; maxPending?: number } = {}) {
  return new AnalyticsFlusher({
    store,
    sink,
    metrics: createMetrics(undefined, false),
    logger: pino({ level: 'silent' }),
    intervalMs: 10,
    maxPending: 100,
    ...limits,
  });
}

/** A flusher bounded at 3 pending batches, 2 of them committed, with the analytics store down. */
async function oneShortOfBound() {
  const store = new MemoryStateStore();
  const { sink } = flakySink();
  sink.down = true;
  const flusher = flusherOf(store, sink, { maxPending: 3 });
  await commitBatches(store, 2);
  return { store, flusher };
}

describe('analytics flusher', () => {
  // Regression: a flush read again until the outbox was empty, so under a steady input each
  // write was followed by a write of the few batches committed during it, each a part that
  // ClickHouse merged into the partition's larger ones.
  it('should write as many batches as were pending when the flush began, not those committed during it', async () => {
    const store = new MemoryStateStore();
    await commitBatches(store, 3);
    let next = 3;
    const { sink, writes } = recordingSink(async (write) => {
      // Another batch commits while each of the first three writes is on its way.
      if (write > 3) return;
      await store.commit({
        partition: 'g/events/0',
        expectedOffset: String(next),
        nextOffset: String(next + 1),
        effects: undefined,
        analytics: { batchId: `events/0/${next}-${next}`, rows: [{ minute: 60, itemId: 'i', views: 1, clicks: 0 }] },
      });
      next++;
    });
    const flusher = flusherOf(store, sink, { writeBatches: 1 });
    expect(await flusher.flush()).toBe(3);
    expect(writes).toEqual([['events/0/0-0'], ['events/0/1-1'], ['events/0/2-2']]);
    expect(await store.pendingAnalyticsCount()).toBe(3);
  });

  it('should gather batches into one write until it holds the rows of a write', async () => {
    const store = new MemoryStateStore();
    await commitBatches(store, 5);
    const all = recordingSink();
    expect(await flusherOf(store, all.sink).flush()).toBe(5);
    expect(all.writes.map((w) => w.length)).toEqual([5]);

    await commitBatches(store, 5, 5);
    const bounded = recordingSink();
    // One row a batch: a write takes batches until it holds 2 rows.
    expect(await flusherOf(store, bounded.sink, { writeRows: 2 }).flush()).toBe(5);
    expect(bounded.writes.map((w) => w.length)).toEqual([2, 2, 1]);
    expect(bounded.writes.flat()).toEqual(['events/0/5-5', 'events/0/6-6', 'events/0/7-7', 'events/0/8-8', 'events/0/9-9']);
  });

  // Regression: the bound was checked against a count only a successful flush refreshed, so
  // while ClickHouse was down the pipeline never paused and the outbox grew without limit.
  it('should hold the pipeline back while the analytics store is down and the outbox is at its bound', async () => {
    const store = new MemoryStateStore();
    const { sink, written } = flakySink();
    const flusher = flusherOf(store, sink, { maxPending: 3 });
    await flusher.flush();
    sink.down = true;
    flusher.start();
    await commitBatches(store, 3);

    let released = false;
    const waiting = flusher.waitForRoom().then(() => {
      released = true;
    });
    await sleep(100);
    expect(released).toBe(false);
    expect(await store.pendingAnalyticsCount()).toBe(3);

    sink.down = false;
    await waiting;
    await flusher.stop();
    expect(written).toEqual(['events/0/0-0', 'events/0/1-1', 'events/0/2-2']);
    expect(await store.pendingAnalyticsCount()).toBe(0);
  });

  it('should let the pipeline go on while the outbox is below its bound, whatever the analytics store does', async () => {
    const { store, flusher } = await oneShortOfBound();
    await flusher.waitForRoom();
    expect(await store.pendingAnalyticsCount()).toBe(2);
  });

  // Partitions' batches check the bound at once: each one let through counts until it is done,
  // or all would pass one short of the bound and overrun it.
  it('should let through only as many batches at once as the outbox has room for', async () => {
    const { store, flusher } = await oneShortOfBound();
    const through: number[] = [];
    const first = flusher.waitForRoom().then((done) => (through.push(1), done));
    const second = flusher.waitForRoom().then((done) => (through.push(2), done));
    const done = await first;
    await sleep(60);
    expect(through).toEqual([1]);
    // The first batch ends without writing an outbox entry (fenced, say): its room is free again.
    done();
    done();
    (await second)();
    expect(through).toEqual([1, 2]);
    await flusher.stop();
  });
});
