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

async function commitBatches(store: MemoryStateStore, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
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

describe('analytics flusher', () => {
  // Regression: the bound was checked against a count only a successful flush refreshed, so
  // while ClickHouse was down the pipeline never paused and the outbox grew without limit.
  it('should hold the pipeline back while the analytics store is down and the outbox is at its bound', async () => {
    const store = new MemoryStateStore();
    const { sink, written } = flakySink();
    const flusher = new AnalyticsFlusher({
      store,
      sink,
      metrics: createMetrics(undefined, false),
      logger: pino({ level: 'silent' }),
      intervalMs: 10,
      maxPending: 3,
    });
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
    const store = new MemoryStateStore();
    const { sink } = flakySink();
    sink.down = true;
    const flusher = new AnalyticsFlusher({
      store,
      sink,
      metrics: createMetrics(undefined, false),
      logger: pino({ level: 'silent' }),
      intervalMs: 10,
      maxPending: 3,
    });
    await commitBatches(store, 2);
    await flusher.waitForRoom();
    expect(await store.pendingAnalyticsCount()).toBe(2);
  });
});
