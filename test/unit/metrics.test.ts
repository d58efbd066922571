import { describe, expect, it } from 'vitest';
import type { InteractionEvent } from '../../src/events/schema.ts';
import { createMetrics, timeStage } from '../../src/metrics.ts';
import { PrequentialSampler, type TopKSource } from '../../src/monitoring/prequential.ts';
import { ItemIndex } from '../../src/serve/item-index.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';

function click(userId: string, itemId: string): InteractionEvent {
  return { type: 'click', userId, itemId, ts: 1_000 };
}

type Labels = Record<string, string | number | undefined>;

/** The value of one series, e.g. `freshet_batch_duration_seconds_count{stage="load"}`. */
async function value(metrics: ReturnType<typeof createMetrics>, name: string, labels: Labels = {}) {
  const family = name.replace(/_(bucket|sum|count)$/, '');
  const metric = metrics.registry.getSingleMetric(family) ?? metrics.registry.getSingleMetric(name);
  const values = (await metric?.get())?.values ?? [];
  const matches = (v: { labels: Labels }) =>
    Object.entries(labels).every(([key, wanted]) => String(v.labels[key]) === wanted);
  const named = values as Array<(typeof values)[number] & { metricName?: string }>;
  const sample = named.find((v) => (v.metricName ?? name) === name && matches(v));
  return sample?.value;
}

describe('metrics', () => {
  it('exports zero for every value of a closed label set before it first occurs', async () => {
    const text = await createMetrics(undefined, false).registry.metrics();
    for (const line of [
      'freshet_events_consumed_total{type="push_open"} 0',
      'freshet_events_skipped_total{reason="duplicate"} 0',
      'freshet_batch_errors_total{stage="commit"} 0',
      'freshet_batch_duration_seconds_count{stage="dead_letter"} 0',
      'freshet_index_lookups_total{result="refresh"} 0',
      'freshet_campaigns{state="pilot"} 0',
      'freshet_campaign_lift_ratio{state="expanding"} 0',
      'freshet_prequential_samples_total{cohort="cold"} 0',
    ]) {
      expect(text).toContain(line);
    }
  });

  it('timeStage observes the duration of a stage and counts its failure before rethrowing', async () => {
    const metrics = createMetrics(undefined, false);
    expect(await timeStage(metrics, 'load', async () => 7)).toBe(7);
    const failing = timeStage(metrics, 'commit', async () => Promise.reject(new Error('redis down')));
    await expect(failing).rejects.toThrow('redis down');
    const count = (stage: string) => value(metrics, 'freshet_batch_duration_seconds_count', { stage });
    expect(await count('load')).toBe(1);
    expect(await count('commit')).toBe(1);
    expect(await count('model')).toBe(0);
    expect(await value(metrics, 'freshet_batch_errors_total', { stage: 'commit' })).toBe(1);
    expect(await value(metrics, 'freshet_batch_errors_total', { stage: 'load' })).toBe(0);
  });
});

describe('prequential sampler', () => {
  function sampler(recommender: TopKSource, every = 2, maxPerBatch = 10) {
    const metrics = createMetrics(undefined, false);
    const quality = new PrequentialSampler({
      recommender,
      isPositive: (e) => e.type === 'click',
      metrics,
      every,
      k: 3,
      maxPerBatch,
    });
    return { metrics, quality };
  }

  it('checks one positive event in `every` against the top-k served before it, by cohort', async () => {
    const asked: string[] = [];
    const { metrics, quality } = sampler({
      recommend: async (userId, k) => {
        asked.push(`${userId}:${k}`);
        return { items: [{ id: 'a' }, { id: 'b' }], coldStart: userId === 'new' };
      },
    });
    await quality.observe([
      click('u1', 'a'), // sampled: hit
      { type: 'view', userId: 'u1', itemId: 'z', ts: 1_000 }, // not positive
      click('u2', 'x'), // skipped
      click('u3', 'z'), // sampled: miss
      click('u4', 'b'), // skipped
      click('new', 'b'), // sampled: cold hit
    ]);
    expect(asked).toEqual(['u1:3', 'u3:3', 'new:3']);
    expect(await value(metrics, 'freshet_prequential_samples_total', { cohort: 'warm' })).toBe(2);
    expect(await value(metrics, 'freshet_prequential_hits_total', { cohort: 'warm' })).toBe(1);
    expect(await value(metrics, 'freshet_prequential_samples_total', { cohort: 'cold' })).toBe(1);
    expect(await value(metrics, 'freshet_prequential_hits_total', { cohort: 'cold' })).toBe(1);
  });

  it('checks at most maxPerBatch events of one batch, and counts a failed check without throwing', async () => {
    let calls = 0;
    const { metrics, quality } = sampler(
      {
        recommend: async () => {
          calls++;
          throw new Error('state store unavailable');
        },
      },
      1,
      2,
    );
    await quality.observe([click('u1', 'a'), click('u2', 'a'), click('u3', 'a'), click('u4', 'a')]);
    expect(calls).toBe(2);
    expect(await value(metrics, 'freshet_prequential_errors_total')).toBe(2);
    expect(await value(metrics, 'freshet_prequential_samples_total', { cohort: 'warm' })).toBe(0);
  });
});

describe('prequential sampler rate', () => {
  it('checks at most maxPerSecond events in any one-second window, whatever the batches', async () => {
    const asked: string[] = [];
    let now = 5_000;
    const metrics = createMetrics(undefined, false);
    const quality = new PrequentialSampler({
      recommender: {
        recommend: async (userId) => {
          asked.push(userId);
          return { items: [], coldStart: false };
        },
      },
      isPositive: (e) => e.type === 'click',
      metrics,
      every: 1,
      maxPerBatch: 2,
      maxPerSecond: 3,
      now: () => now,
    });
    const batch = (prefix: string) => [1, 2, 3].map((n) => click(`${prefix}${n}`, 'a'));
    await quality.observe(batch('a'));
    now += 400;
    await quality.observe(batch('b'));
    now += 400;
    await quality.observe(batch('c'));
    now += 200;
    await quality.observe(batch('d'));
    expect(asked).toEqual(['a1', 'a2', 'b1', 'd1', 'd2']);
  });
});

describe('item index metrics', () => {
  it('counts reads served fresh as hits and reads that refreshed first as refreshes', async () => {
    const metrics = createMetrics(undefined, false);
    let now = 0;
    const index = new ItemIndex(new MemoryStateStore(), 4, () => now, metrics);
    await index.ensureFresh(100);
    now = 50;
    await index.ensureFresh(100);
    await index.ensureFresh(100);
    now = 500;
    await index.ensureFresh(100);
    expect(await value(metrics, 'freshet_index_lookups_total', { result: 'hit' })).toBe(2);
    expect(await value(metrics, 'freshet_index_lookups_total', { result: 'refresh' })).toBe(2);
    expect(await value(metrics, 'freshet_index_items')).toBe(0);
    // A commit by this process makes the next lookup refresh, inside the staleness bound too.
    await index.ensureFresh(100);
    now = 520;
    index.markStale();
    now = 530;
    await index.ensureFresh(100);
    await index.ensureFresh(100);
    expect(await value(metrics, 'freshet_index_lookups_total', { result: 'refresh' })).toBe(3);
    expect(await value(metrics, 'freshet_index_lookups_total', { result: 'hit' })).toBe(4);
  });
});
