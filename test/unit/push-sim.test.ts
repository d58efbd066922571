import { describe, expect, it } from 'vitest';
import { formatTable, simulationParams } from '../../src/commands/simulate-push.ts';
import { foldOf } from '../../src/push/sim/data.ts';
import { fitResponse } from '../../src/push/sim/response.ts';
import { sendsToHold } from '../../src/push/sim/run.ts';
import type { MindImpression } from '../../src/sources/datasets.ts';

const T = Date.UTC(2019, 10, 10);

/** Five users with 0 to 4 history items; each saw x (the candidate) and y; u0 clicked x, u1 clicked y. */
const FIT: MindImpression[] = [0, 1, 2, 3, 4].map((k) => ({
  impressionId: String(k),
  userId: `u${k}`,
  ts: T,
  history: Array.from({ length: k }, (_, j) => `h${j}`),
  items: [
    { itemId: 'x', clicked: k === 0 },
    { itemId: 'y', clicked: k === 1 },
  ],
}));
const BANDIT = [
  ...Array.from({ length: 500 }, (_, i) => ({ segment: 's1', clicked: i < 5 })),
  ...Array.from({ length: 500 }, () => ({ segment: 's2', clicked: false })),
];

describe('push simulation response model', () => {
  it('fits per-item, per-segment propensities on the fit half, shrunk towards the item CTR', () => {
    const model = fitResponse(FIT, new Set(['x']), BANDIT, 'salt');
    // ctr = 2/10; ctr(x) = (1 + 20·0.2) / (5 + 20) = 0.2; segment 0 clicked x once in one show:
    // m0 = 1 / 0.2 = 5, p(0, x) = (1 + 20·0.2·5) / (1 + 20) = 1; the other segments never clicked x: p = 0.
    expect(model.summary.ctr).toBe(0.2);
    expect(model.summary.segmentMultipliers).toEqual([5, 0, 0, 0, 0]);
    const heavy = { id: 'v', segment: 0, responsiveness: 0.5 };
    expect(model.open(heavy, 'x')).toBe(0.5);
    expect(model.usual(heavy)).toBe(0.5);
    expect(model.open({ ...heavy, responsiveness: 1.5 }, 'x')).toBe(0.95);
    expect(model.open({ ...heavy, segment: 3 }, 'x')).toBe(0);
  });

  it('draws responsiveness from the Open Bandit segments, shrunk by 500 impressions', () => {
    const model = fitResponse(FIT, new Set(['x']), BANDIT, 'salt');
    // ctr 0.005; r(s1) = (5 + 2.5) / 1000 / 0.005 = 1.5, r(s2) = 2.5 / 1000 / 0.005 = 0.5
    expect(model.summary.responsiveness[0]).toBeCloseTo(0.5, 12);
    expect(model.summary.responsiveness[1]).toBeCloseTo(1.5, 12);
    const drawn = new Set(
      Array.from({ length: 50 }, (_, i) => model.user(`user${i}`, 2).responsiveness.toFixed(6)),
    );
    expect(drawn).toEqual(new Set(['0.500000', '1.500000']));
    expect(model.user('u', 3)).toEqual(model.user('u', 3));
    expect(model.user('u', 3).segment).toBe(3);
  });

  it('splits users in two halves by a salted hash', () => {
    const folds = Array.from({ length: 1000 }, (_, i) => foldOf(`U${i}`, 'salt'));
    const fit = folds.filter((f) => f === 'fit').length;
    expect(fit).toBeGreaterThan(440);
    expect(fit).toBeLessThan(560);
    expect(foldOf('U1', 'salt')).toBe(foldOf('U1', 'salt'));
  });
});

describe('push simulation report', () => {
  it('finds the send from which the cumulative lift holds the target', () => {
    const trace = [true, false, false, true, true].map((clicked) => ({ expected: 0.5, clicked }));
    // cumulative lifts: 2, 1, 0.67, 1, 1.2
    expect(sendsToHold(trace, 1)).toBe(4);
    expect(sendsToHold(trace, 1.5)).toBeUndefined();
    expect(sendsToHold(trace.slice(0, 2), 1)).toBe(1);
  });

  it("takes the loop parameters from options, with the simulation's organic threshold", () => {
    const params = simulationParams({
      pilot: '50',
      'target-lift': '3',
      expiry: '6h',
      'cap-window': '1d',
    });
    expect(params).toMatchObject({
      pilotSize: 50,
      targetLift: 3,
      expiryMs: 6 * 3_600_000,
      capWindowMs: 86_400_000,
      minOrganicCtr: 0.1,
      minOrganicViews: 5,
    });
    expect(() => simulationParams({ pilot: '0' })).toThrow(/pilotSize must be an integer from 1/);
    expect(() => simulationParams({ expiry: 'soon' })).toThrow(/--expiry must be a duration/);
    // An expiry past the loop's default retention (30 days) takes a retention beyond it.
    expect(simulationParams({ expiry: '60d' })).toMatchObject({ expiryMs: 60 * 86_400_000, retentionMs: 61 * 86_400_000 });
  });

  it('prints one line per strategy', () => {
    const table = formatTable({
      rows: [
        { name: 'loop', role: 'loop', sends: 200, clicks: 24, expectedClicks: 8, lift: 3 },
        { name: 'all', role: 'baseline', sends: 400, clicks: 16, expectedClicks: 16, lift: 1 },
      ],
      details: [
        { name: 'loop', sendsToTarget: 120 },
        { name: 'all', sendsToTarget: undefined },
      ],
      loop: { contents: 2, expanded: 1, stopped: { interval_below_target: 1, expired: 1 } },
    });
    expect(table.split('\n')).toEqual([
      'strategy  role      sends  clicks  expected  lift  clicks/push  lift held from send',
      'loop      loop        200      24       8.0  3.00       0.1200                  120',
      'all       baseline    400      16      16.0  1.00       0.0400                never',
      '',
      'loop: 2 contents pushed, 1 expanded; ended: interval_below_target 1, expired 1',
    ]);
  });
});
