import { describe, expect, it } from 'vitest';
import { decide, liftInterval, type DecisionRule } from '../../src/push/decision.ts';
import { cohortExpectation, globalCtr, smoothedCtr, zForLevel } from '../../src/push/stats.ts';

// z = 2 and variance = 4 give a half-width of exactly 4 clicks; with 5 expected clicks the
// interval bounds are (observed ∓ 4) / 5, so 12/5 lands exactly on the target 2.4.
const RULE: DecisionRule = { targetLift: 2.4, z: 2, expandFactor: 2 };
const outcome = (observed: number) => ({ sent: 50, observed, expected: 5, variance: 4 });

describe('push decision rule', () => {
  it('computes lift = observed / expected and the interval (observed ∓ z·√variance) / expected', () => {
    expect(liftInterval(outcome(16), 2)).toEqual({ lift: 3.2, lower: 2.4, upper: 4 });
    expect(liftInterval(outcome(0), 2)).toEqual({ lift: 0, lower: -0.8, upper: 0.8 });
  });

  it('expands when the lower bound is exactly the target (the whole interval clears it)', () => {
    expect(decide(outcome(16), 50, RULE)).toEqual({
      lift: 3.2,
      lower: 2.4,
      upper: 4,
      action: 'expand',
      reason: 'interval_above_target',
      nextSize: 100,
    });
  });

  it('expands when the lower bound is above the target, by the factor rounded up', () => {
    const verdict = decide(outcome(17), 33, { ...RULE, expandFactor: 1.5 });
    expect(verdict).toMatchObject({ action: 'expand', nextSize: 50 });
    expect(verdict.lower).toBeCloseTo(2.6, 12);
  });

  it('resends the same size when the target lies inside the interval', () => {
    const verdict = decide(outcome(15), 50, RULE);
    expect(verdict).toMatchObject({
      action: 'resend',
      reason: 'target_inside_interval',
      nextSize: 50,
    });
    expect(verdict.lower).toBeCloseTo(2.2, 12);
    expect(verdict.upper).toBeCloseTo(3.8, 12);
  });

  it('resends when the upper bound is exactly the target', () => {
    expect(decide(outcome(8), 50, RULE)).toEqual({
      lift: 1.6,
      lower: 0.8,
      upper: 2.4,
      action: 'resend',
      reason: 'target_inside_interval',
      nextSize: 50,
    });
  });

  it('stops when the whole interval lies below the target', () => {
    const verdict = decide(outcome(7), 50, RULE);
    expect(verdict).toMatchObject({
      action: 'stop',
      reason: 'interval_below_target',
      nextSize: 0,
      lift: 1.4,
    });
    expect(verdict.upper).toBeCloseTo(2.2, 12);
  });

  it('stops when nothing was expected', () => {
    expect(decide({ sent: 0, observed: 0, expected: 0, variance: 0 }, 0, RULE)).toEqual({
      lift: 0,
      lower: 0,
      upper: 0,
      action: 'stop',
      reason: 'nothing_expected',
      nextSize: 0,
    });
  });

  it('decides a pilot of 100 users at a usual CTR of 4% with a 90% interval', () => {
    const { expected, variance } = cohortExpectation(new Array(100).fill(0.04));
    expect(expected).toBeCloseTo(4, 12);
    expect(variance).toBeCloseTo(3.84, 12);
    const rule = { targetLift: 2.4, z: zForLevel(0.9), expandFactor: 2 };
    // half-width 1.6448536·√3.84 = 3.2232 clicks
    const at = (observed: number) => decide({ sent: 100, observed, expected, variance }, 100, rule);
    expect(at(16)).toMatchObject({ action: 'expand', nextSize: 200 });
    expect(at(16).lower).toBeCloseTo((16 - 3.2232) / 4, 3);
    expect(at(13)).toMatchObject({ action: 'expand' }); // lower (13 - 3.2232) / 4 = 2.444
    expect(at(12)).toMatchObject({ action: 'resend', nextSize: 100 }); // lower 2.194
    expect(at(7)).toMatchObject({ action: 'resend' }); // upper (7 + 3.2232) / 4 = 2.556
    expect(at(6)).toMatchObject({ action: 'stop' }); // upper 2.306
  });
});

describe('push statistics', () => {
  it('smooths a user push CTR towards the global one: (opens + m·g) / (sends + m)', () => {
    expect(smoothedCtr({ sends: 0, opens: 0 }, 0.05, 20)).toBe(0.05);
    expect(smoothedCtr({ sends: 10, opens: 3 }, 0.05, 20)).toBeCloseTo(4 / 30, 15);
    expect(smoothedCtr({ sends: 30, opens: 0 }, 0.05, 20)).toBeCloseTo(1 / 50, 15);
    expect(smoothedCtr({ sends: 4, opens: 4 }, 0.05, 0)).toBe(1);
  });

  it('takes the global push CTR from the totals, or the prior before any send', () => {
    expect(globalCtr({ sends: 200, opens: 10 }, 0.02)).toBe(0.05);
    expect(globalCtr({ sends: 0, opens: 0 }, 0.02)).toBe(0.02);
  });

  it('sums p and p(1 - p) over a cohort', () => {
    const { expected, variance } = cohortExpectation([0.05, 4 / 30, 0.02]);
    expect(expected).toBeCloseTo(0.05 + 4 / 30 + 0.02, 15);
    expect(variance).toBeCloseTo(0.0475 + (4 / 30) * (26 / 30) + 0.0196, 15);
  });

  it('finds the normal quantile of a two-sided level', () => {
    expect(zForLevel(0.95)).toBeCloseTo(1.959963985, 8);
    expect(zForLevel(0.9)).toBeCloseTo(1.644853627, 8);
    expect(zForLevel(0.99)).toBeCloseTo(2.575829304, 8);
    expect(zForLevel(0.5)).toBeCloseTo(0.6744897502, 8);
    expect(() => zForLevel(1)).toThrow(/confidence level must be in \(0, 1\)/);
  });
});
