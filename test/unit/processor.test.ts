import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createMetrics } from '../../src/metrics.ts';
import { OnlineModel } from '../../src/model/online-mf.ts';
import { DEFAULT_MODEL_PARAMS } from '../../src/model/params.ts';
import { BatchProcessor, offsetAtLeast } from '../../src/pipeline/processor.ts';
import type { InteractionEvent } from '../../src/events/schema.ts';
import { Registry } from 'prom-client';
import type { DeadLetter, SourceMessage } from '../../src/pipeline/types.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';
import { Subject } from 'rxjs';
import { EmbeddedSource, applyWork, type Work } from '../../src/pipeline/stream.ts';
import type { ChunkResult } from '../../src/pipeline/types.ts';

const NOW = Date.UTC(2026, 0, 1);

function message(offset: number, value: unknown): SourceMessage {
  const bytes = typeof value === 'string' ? Buffer.from(value) : Buffer.from(JSON.stringify(value));
  return { offset: String(offset), key: null, value: bytes };
}

function click(userId: string, itemId: string, ts = NOW - 1000, eventId?: string) {
  return { type: 'click', userId, itemId, ts, ...(eventId ? { eventId } : {}) };
}

function setupOptions(maxEvents = 100) {
  const store = new MemoryStateStore();
  const letters: DeadLetter[] = [];
  const committed: string[][] = [];
  return {
    store,
    letters,
    committed,
    model: new OnlineModel({ ...DEFAULT_MODEL_PARAMS, dimensions: 4 }),
    deadLetters: { send: async (l: DeadLetter[]) => void letters.push(...l) },
    metrics: createMetrics(undefined, false),
    logger: pino({ level: 'silent' }),
    group: 'g',
    maxEvents,
    analytics: true,
    maxFutureMs: 60_000,
    contentsTopic: 'contents',
    now: () => NOW,
    afterCommit: (events: readonly InteractionEvent[]) => void committed.push(events.map((e) => `${e.userId}>${e.itemId}`)),
  };
}

function setup(maxEvents = 100) {
  const options = setupOptions(maxEvents);
  const { store, letters, committed } = options;
  return { store, letters, processor: new BatchProcessor(options), committed };
}

describe('batch processor', () => {
  it('applies valid events, dead-letters bad ones with their reason and bytes, and stores the next offset', async () => {
    const { store, letters, processor } = setup();
    const result = await processor.process({
      topic: 'events',
      partition: 2,
      messages: [
        message(40, click('u1', 'i1')),
        message(41, 'not json'),
        message(42, { type: 'click', itemId: 'i1', ts: NOW }),
        message(43, click('u1', 'i1', NOW + 3_600_000)),
        message(44, click('u2', 'i1')),
      ],
    });
    expect(result).toEqual({ nextOffset: '45', applied: 2, rejected: 3, skipped: 0 });
    expect(await store.readOffset('g/events/2')).toBe('45');
    expect(await store.getItemCounts('i1')).toEqual({ views: 0, clicks: 2 });
    expect(letters.map((l) => [l.offset, l.field, l.reason])).toEqual([
      ['41', '$', 'message is not valid JSON'],
      ['42', 'userId', 'userId is required and must be a non-empty string or a non-negative safe integer'],
      ['43', 'ts', 'ts is more than 60000 ms ahead of the clock'],
    ]);
    expect(letters[0]?.value?.toString()).toBe('not json');
    expect(await store.pendingAnalytics(10)).toEqual([
      {
        batchId: 'events/2/40-44',
        rows: [{ minute: Math.floor((NOW - 1000) / 60_000) * 60, itemId: 'i1', views: 0, clicks: 2 }],
        users: [
          { day: Date.UTC(2025, 11, 31) / 1000, userId: 'u1', events: 1, pushOpens: 0 },
          { day: Date.UTC(2025, 11, 31) / 1000, userId: 'u2', events: 1, pushOpens: 0 },
        ],
      },
    ]);
  });

  it('gives back what beforeChunk took once the chunk is done, applied or failed', async () => {
    const options = setupOptions();
    const calls: string[] = [];
    let failCommit = false;
    const store = options.store;
    const commit = store.commit.bind(store);
    store.commit = async (batch) => {
      calls.push('commit');
      if (failCommit) throw new Error('store down');
      return commit(batch);
    };
    const processor = new BatchProcessor({
      ...options,
      beforeChunk: async () => {
        calls.push('before');
        return () => void calls.push('done');
      },
    });
    await processor.process({ topic: 'events', partition: 0, messages: [message(0, click('u1', 'i1'))] });
    expect(calls).toEqual(['before', 'commit', 'done']);
    failCommit = true;
    await expect(processor.process({ topic: 'events', partition: 0, messages: [message(1, click('u1', 'i2'))] })).rejects.toThrow('store down');
    expect(calls).toEqual(['before', 'commit', 'done', 'before', 'commit', 'done']);
  });

  it('skips messages whose offsets are already stored, so a redelivery applies nothing twice', async () => {
    const { store, processor } = setup();
    const messages = [message(0, click('u1', 'i1')), message(1, click('u1', 'i2'))];
    await processor.process({ topic: 'events', partition: 0, messages });
    processor.forgetCursors();
    const again = await processor.process({
      topic: 'events',
      partition: 0,
      messages: [...messages, message(2, click('u1', 'i3'))],
    });
    expect(again).toEqual({ nextOffset: '3', applied: 1, rejected: 0, skipped: 2 });
    expect(await store.getItemCounts('i1')).toEqual({ views: 0, clicks: 1 });
    expect(await store.getItemCounts('i3')).toEqual({ views: 0, clicks: 1 });
  });

  it('compares offsets by value across lengths: a stored 10 skips 9 and keeps 10 and 11', async () => {
    const { processor } = setup();
    await processor.process({ topic: 'events', partition: 1, messages: [8, 9].map((o) => message(o, click('u1', `i${o}`))) });
    const again = await processor.process({
      topic: 'events',
      partition: 1,
      messages: [9, 10, 11, 100].map((o) => message(o, click('u1', `i${o}`))),
    });
    expect(again).toEqual({ nextOffset: '101', applied: 3, rejected: 0, skipped: 1 });
    expect([offsetAtLeast('10', '9'), offsetAtLeast('9', '10'), offsetAtLeast('10', '10'), offsetAtLeast('19', '20')]).toEqual([true, false, true, false]);
  });

  it('counts consumed events per type', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, false);
    const processor = new BatchProcessor({ ...setupOptions(), metrics });
    await processor.process({
      topic: 'events',
      partition: 0,
      messages: [
        message(0, click('u1', 'i1')),
        message(1, { type: 'view', userId: 'u1', itemId: 'i2', ts: NOW - 1000 }),
        message(2, click('u2', 'i1')),
      ],
    });
    const text = await registry.metrics();
    expect(text).toContain('freshet_events_consumed_total{type="click"} 2');
    expect(text).toContain('freshet_events_consumed_total{type="view"} 1');
  });

  it('splits large chunks into transactions of at most maxEvents', async () => {
    const { store, processor } = setup(2);
    const messages = [0, 1, 2, 3, 4].map((o) => message(o, click(`u${o}`, 'i')));
    const result = await processor.process({ topic: 'events', partition: 0, messages });
    expect(result.nextOffset).toBe('5');
    expect((await store.pendingAnalytics(10)).map((b) => b.batchId)).toEqual([
      'events/0/0-1',
      'events/0/2-3',
      'events/0/4-4',
    ]);
  });

  it('drops a repeated eventId once its first copy is durable', async () => {
    const { store, processor } = setup();
    await processor.process({ topic: 'events', partition: 0, messages: [message(0, click('u', 'i', NOW - 5, 'e1'))] });
    const result = await processor.process({
      topic: 'events',
      partition: 0,
      messages: [message(1, click('u', 'i', NOW - 5, 'e1')), message(2, click('u', 'i', NOW - 5, 'e2'))],
    });
    expect(result).toEqual({ nextOffset: '3', applied: 1, rejected: 0, skipped: 1 });
    expect(await store.getItemCounts('i')).toEqual({ views: 0, clicks: 2 });
  });

  it('is fenced when another owner advanced the partition, and commits nothing', async () => {
    const { store, processor } = setup();
    await processor.process({ topic: 'events', partition: 0, messages: [message(0, click('u', 'i'))] });
    await store.commit({ partition: 'g/events/0', expectedOffset: '1', nextOffset: '7', effects: undefined, analytics: undefined });
    const result = await processor.process({ topic: 'events', partition: 0, messages: [message(1, click('u', 'j'))] });
    expect(result.nextOffset).toBeNull();
    expect(await store.getItemCounts('j')).toEqual({ views: 0, clicks: 0 });
    expect(await store.readOffset('g/events/0')).toBe('7');
  });

  it('stores content events from the contents topic and dead-letters bad ones', async () => {
    const { store, letters, processor } = setup();
    const result = await processor.process({
      topic: 'contents',
      partition: 1,
      messages: [
        message(7, { itemId: 'n1', publishedAt: '2019-11-09T10:00:00Z', category: 'sports' }),
        message(8, { itemId: 'n2', publishedAt: 'soon' }),
        // More than maxFutureMs (60 s) ahead of the clock; at the bound is taken.
        message(9, { itemId: 'n3', publishedAt: NOW + 60_001 }),
        message(10, { itemId: 'n4', publishedAt: NOW + 60_000 }),
      ],
    });
    expect(result).toEqual({ nextOffset: '11', applied: 2, rejected: 2, skipped: 0 });
    expect(await store.getContent('n1')).toEqual({ itemId: 'n1', publishedAt: Date.UTC(2019, 10, 9, 10), category: 'sports' });
    expect(await store.getContent('n3')).toBeUndefined();
    expect((await store.getContent('n4'))?.publishedAt).toBe(NOW + 60_000);
    expect(letters.map((l) => [l.topic, l.offset, l.field, l.reason])).toEqual([
      ['contents', '8', 'publishedAt', expect.stringContaining('publishedAt')],
      ['contents', '9', 'publishedAt', 'publishedAt is more than 60000 ms ahead of the clock'],
    ]);
    expect(await store.readOffset('g/contents/1')).toBe('11');
  });

  it('hands exactly the applied events to the after-commit hook, once per durable batch', async () => {
    const { processor, committed } = setup();
    await processor.process({
      topic: 'events',
      partition: 0,
      messages: [
        message(0, click('u1', 'i1', NOW - 5, 'e1')),
        message(1, 'not json'),
        message(2, click('u1', 'i1', NOW - 5, 'e1')),
        message(3, click('u2', 'i2')),
      ],
    });
    processor.forgetCursors();
    await processor.process({ topic: 'events', partition: 0, messages: [message(3, click('u2', 'i2'))] });
    await processor.process({ topic: 'contents', partition: 0, messages: [message(0, { itemId: 'n', publishedAt: 1 })] });
    expect(committed).toEqual([['u1>i1', 'u2>i2']]);
  });

  it('applies two partitions at once, and both batches count on an item they share', async () => {
    const { store, processor } = setup();
    // Slow reads: both batches read the shared item before either commits.
    let reading = 0;
    let mostAtOnce = 0;
    const load = store.loadSnapshot.bind(store);
    store.loadSnapshot = async (users, items) => {
      mostAtOnce = Math.max(mostAtOnce, ++reading);
      await new Promise((resolve) => setTimeout(resolve, 20));
      reading--;
      return load(users, items);
    };
    const work$ = new Subject<Work>();
    const { drained } = applyWork(work$, processor, pino({ level: 'silent' }), 2);
    const hand = (partition: number, userId: string) =>
      new Promise<ChunkResult>((resolve, reject) =>
        work$.next({
          chunk: { topic: 'events', partition, messages: [message(0, click(userId, 'shared'))] },
          done: resolve,
          failed: reject,
          stale: () => false,
          heartbeat: async () => {},
        }),
      );
    const results = await Promise.all([hand(0, 'a'), hand(1, 'b')]);
    work$.complete();
    await drained;
    expect(mostAtOnce).toBe(2);
    expect(results.map((r) => r.nextOffset)).toEqual(['1', '1']);
    expect((await store.getItem('shared'))?.clicks).toBeCloseTo(2, 9);
    expect(await store.getItemCounts('shared')).toEqual({ views: 0, clicks: 2 });
  });

  it('fails the HTTP input submissions of a batch that another engine fenced, and resumes after the stored offset', async () => {
    const options = setupOptions();
    const processor = new BatchProcessor({ ...options, group: 'embedded' });
    const source = new EmbeddedSource<InteractionEvent>({ topic: 'http', maxEvents: 10, maxMs: 1, maxPending: 100, storedOffset: () => processor.storedOffset('http', 0), keyOf: (e) => e.userId });
    const { drained } = applyWork(source.work$, processor, pino({ level: 'silent' }));
    await source.submit([{ type: 'click', userId: 'u1', itemId: 'i1', ts: NOW - 1000 }]);
    // Another engine on the same store applies two events of the same input.
    const other = new BatchProcessor({ ...setupOptions(), store: options.store, group: 'embedded' });
    await other.process({ topic: 'http', partition: 0, messages: [message(1, click('u2', 'i2')), message(2, click('u2', 'i3'))] });
    await expect(source.submit([{ type: 'click', userId: 'u3', itemId: 'i4', ts: NOW - 1000 }])).rejects.toMatchObject({ code: 'state_fenced' });
    expect(await options.store.getItemCounts('i4')).toEqual({ views: 0, clicks: 0 });
    await source.submit([{ type: 'click', userId: 'u3', itemId: 'i5', ts: NOW - 1000 }]);
    expect(await options.store.getItemCounts('i5')).toEqual({ views: 0, clicks: 1 });
    expect(await options.store.readOffset('embedded/http/0')).toBe('4');
    source.close();
    await drained;
  });

  it('refuses an HTTP input batch whose stored offset cannot be read, and reads it again for the next', async () => {
    const options = setupOptions();
    await new BatchProcessor({ ...options, group: 'embedded' }).process({ topic: 'http', partition: 0, messages: [0, 1, 2].map((o) => message(o, click('u0', `old${o}`))) });
    const processor = new BatchProcessor({ ...options, group: 'embedded' });
    let reads = 0;
    const storedOffset = async () => {
      if (reads++ === 0) throw new Error('store unavailable');
      return processor.storedOffset('http', 0);
    };
    const source = new EmbeddedSource<InteractionEvent>({ topic: 'http', maxEvents: 10, maxMs: 1, maxPending: 100, storedOffset, keyOf: (e) => e.userId });
    const { drained } = applyWork(source.work$, processor, pino({ level: 'silent' }));
    await expect(source.submit([{ type: 'click', userId: 'u1', itemId: 'i1', ts: NOW - 1000 }])).rejects.toThrow('store unavailable');
    expect(source.full(100)).toBe(false); // the refused events no longer count against the bound
    await source.submit([{ type: 'click', userId: 'u1', itemId: 'i2', ts: NOW - 1000 }]);
    expect(await options.store.getItemCounts('i2')).toEqual({ views: 0, clicks: 1 });
    expect(await options.store.readOffset('embedded/http/0')).toBe('4');
    source.close();
    await drained;
  });
});
