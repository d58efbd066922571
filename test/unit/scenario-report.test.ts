import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryExposureStore, type ExposureStore } from '../../src/scenarios/exposure.ts';
import { Feedback } from '../../src/scenarios/feedback.ts';
import { scenarioFromText } from '../../src/scenarios/parse.ts';
import { ScenarioRegistry } from '../../src/scenarios/registry.ts';
import { buildReport, compare, type VariantLine } from '../../src/scenarios/report.ts';
import { VariantTracker } from '../../src/scenarios/tracker.ts';
import type { VariantAnalytics, VariantRow } from '../../src/scenarios/variant-analytics.ts';
import { pipelinesCopy } from '../support/scenarios.ts';

const silent = pino({ level: 'silent' });
const options = { maxShown: 10, ttlMs: 60_000, maxRecentClicks: 5 };

const line = (variant: string, impressions: number, clicks: number): VariantLine => ({
  variant,
  share: 0.5,
  impressions,
  clicks,
  ctr: impressions > 0 ? clicks / impressions : null,
});

const AB = `kind: scenario
name: ab
candidates: [{ source: model }]
variants:
  - { name: a, share: 0.5 }
  - { name: b, share: 0.5 }
`;

describe('scenario reports', () => {
  it('give the CTR difference with a 95% normal-approximation interval', () => {
    const c = compare(line('b', 1000, 130), line('a', 1000, 100));
    expect(c.variant).toBe('b');
    expect(c.baseline).toBe('a');
    expect(c.difference).toBeCloseTo(0.03, 12);
    // Independently: 0.03 ± 1.96 * sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000).
    expect(c.interval?.[0]).toBeCloseTo(0.0020679344393763656, 12);
    expect(c.interval?.[1]).toBeCloseTo(0.057932065560623636, 12);
    const none = compare(line('b', 300, 0), line('a', 400, 50));
    expect(none.interval?.[0]).toBeCloseTo(-0.15740985801085142, 12);
    expect(compare(line('b', 0, 0), line('a', 10, 1))).toMatchObject({
      difference: null,
      interval: null,
    });
  });

  it('list declared variants in file order, then retired ones that still have counts', () => {
    const scenario = scenarioFromText('ab.yaml', AB);
    const counts = new Map([
      ['old', { impressions: 5, clicks: 1 }],
      ['b', { impressions: 200, clicks: 30 }],
      ['a', { impressions: 100, clicks: 10 }],
    ]);
    const report = buildReport(scenario, counts, 'memory');
    expect(report.variants).toEqual([
      { variant: 'a', share: 0.5, impressions: 100, clicks: 10, ctr: 0.1 },
      { variant: 'b', share: 0.5, impressions: 200, clicks: 30, ctr: 0.15 },
      { variant: 'old', share: null, impressions: 5, clicks: 1, ctr: 0.2 },
    ]);
    expect(report.comparisons.map((c) => [c.variant, c.baseline])).toEqual([['b', 'a']]);
  });
});

describe('variant tracker', () => {
  it('adds impressions and clicks to the exposure store when there is no ClickHouse', async () => {
    const exposure = new MemoryExposureStore(options);
    const tracker = new VariantTracker({
      exposure,
      analytics: undefined,
      logger: silent,
      flushMs: 1000,
    });
    tracker.served('ab', 'a', 10);
    tracker.served('ab', 'a', 5);
    tracker.clicked([{ scenario: 'ab', variant: 'a', userId: 'u', itemId: 'i', ts: 1 }]);
    expect(tracker.source).toBe('memory');
    expect(await tracker.counts('ab')).toEqual(new Map([['a', { impressions: 15, clicks: 1 }]]));
  });

  it('keeps counts that failed to be written for the next flush', async () => {
    const exposure = new MemoryExposureStore(options);
    let fail = true;
    const flaky: ExposureStore = Object.assign(Object.create(exposure), {
      addVariantCounts: async (deltas: Parameters<ExposureStore['addVariantCounts']>[0]) => {
        if (fail) throw new Error('redis down');
        return exposure.addVariantCounts(deltas);
      },
    });
    const tracker = new VariantTracker({
      exposure: flaky,
      analytics: undefined,
      logger: silent,
      flushMs: 1000,
    });
    tracker.served('ab', 'b', 3);
    await expect(tracker.flush()).rejects.toThrow('redis down');
    fail = false;
    tracker.served('ab', 'b', 1);
    expect(await tracker.counts('ab')).toEqual(new Map([['b', { impressions: 4, clicks: 0 }]]));
  });

  it('writes ClickHouse rows keyed so that a repeated click or a retried batch counts once', async () => {
    const written: VariantRow[][] = [];
    let fail = true;
    const analytics = {
      write: async (rows: readonly VariantRow[]) => {
        written.push([...rows]);
        if (fail) throw new Error('clickhouse down');
      },
    } as unknown as VariantAnalytics;
    const tracker = new VariantTracker({
      exposure: new MemoryExposureStore(options),
      analytics,
      logger: silent,
      flushMs: 1000,
    });
    const click = { scenario: 'ab', variant: 'a', userId: 'u', itemId: 'i', ts: 120_500 };
    tracker.clicked([click, click]);
    tracker.served('ab', 'a', 7);
    await expect(tracker.flush()).rejects.toThrow('clickhouse down');
    fail = false;
    await tracker.flush();
    expect(written).toHaveLength(2);
    expect(written[1]).toEqual(written[0]);
    const [first, second, impressions] = written[0]!;
    expect(first).toMatchObject({
      minute: 120,
      scenario: 'ab',
      variant: 'a',
      impressions: 0,
      clicks: 1,
    });
    expect(second?.key).toBe(first?.key);
    expect(impressions).toMatchObject({ impressions: 7, clicks: 0 });
    expect(impressions?.key).toMatch(/^impressions\/[0-9a-f-]{36}\/0$/);
    await tracker.flush();
    expect(written).toHaveLength(2);
  });
});

describe('feedback from committed clicks', () => {
  it('counts the clicks tagged with a loaded scenario and variant, and nothing else', async () => {
    const files = pipelinesCopy();
    const registry = new ScenarioRegistry({ dir: files.dir, logger: silent, debounceMs: 10 });
    registry.loadInitial();
    const exposure = new MemoryExposureStore(options);
    const tracker = new VariantTracker({ exposure, analytics: undefined, logger: silent, flushMs: 1000 });
    const feedback = new Feedback({ tracker, registry, logger: silent });
    feedback.committed([
      { type: 'click', userId: 'u1', itemId: 'i1', ts: 1000, variant: 'home/control' },
      { type: 'view', userId: 'u1', itemId: 'i2', ts: 1001, variant: 'home/control' },
      { type: 'click', userId: 'u1', itemId: 'i3', ts: 1002, variant: 'home/ghost' },
      { type: 'click', userId: 'u2', itemId: 'i1', ts: 1003, variant: 'nope' },
      { type: 'click', userId: 'u2', itemId: 'i4', ts: 1004 },
    ]);
    feedback.committed([{ type: 'click', userId: 'u3', itemId: 'i9', ts: 1005, variant: 'home/control' }]);
    expect(await tracker.counts('home')).toEqual(new Map([['control', { impressions: 0, clicks: 2 }]]));
    files.remove();
  });

  it('logs, and never throws, when counting fails', () => {
    const files = pipelinesCopy();
    const registry = new ScenarioRegistry({ dir: files.dir, logger: silent, debounceMs: 10 });
    registry.loadInitial();
    const exposure = new MemoryExposureStore(options);
    const tracker = new VariantTracker({ exposure, analytics: undefined, logger: silent, flushMs: 1000 });
    tracker.clicked = () => {
      throw new Error('broken');
    };
    const warned: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warned.push(line) });
    const feedback = new Feedback({ tracker, registry, logger });
    expect(() => feedback.committed([{ type: 'click', userId: 'u', itemId: 'i', ts: 5, variant: 'home/control' }])).not.toThrow();
    expect(warned).toHaveLength(1);
    expect(JSON.parse(warned[0] as string)).toMatchObject({ msg: 'variant clicks not counted', err: { message: 'broken' } });
    files.remove();
  });
});
