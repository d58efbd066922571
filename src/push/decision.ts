/**
 * The decision rule of a campaign stage. Pure: the numbers in, the verdict out.
 *
 * lift = observed / expected. The click count is taken as normal with the
 * variance Σ p(1-p) of the recipients' usual CTRs, so the lift's interval is
 * (observed ∓ z·√variance) / expected. The whole interval at or above the
 * target: expand the next cohort by the factor. The target inside the
 * interval (lower < target ≤ upper): resend a cohort of the same size.
 * Otherwise (upper < target): stop.
 */

export interface DecisionRule {
  /** Lift the campaign must show, e.g. 2.4. */
  targetLift: number;
  /** Half-width of the interval in standard deviations (see `zForLevel`). */
  z: number;
  /** Next cohort size = this cohort's size × the factor when the lift is confirmed. */
  expandFactor: number;
}

/** What a stage sent and what came back. */
export interface StageOutcome {
  /** Push requests emitted in the stage. */
  sent: number;
  /** Recipients of the stage who opened the push. */
  observed: number;
  /** Σ of the recipients' usual push CTRs at send time. */
  expected: number;
  /** Σ p(1-p) over the same CTRs. */
  variance: number;
}

export interface LiftInterval {
  lift: number;
  lower: number;
  upper: number;
}

export type DecisionAction = 'expand' | 'resend' | 'stop';

export type DecisionReason =
  'interval_above_target' | 'target_inside_interval' | 'interval_below_target' | 'nothing_expected';

export interface Verdict extends LiftInterval {
  action: DecisionAction;
  reason: DecisionReason;
  /** Size of the next cohort; 0 when stopping. */
  nextSize: number;
}

/** The lift and its interval; all zero when nothing was expected (no recipients). */
export function liftInterval(outcome: StageOutcome, z: number): LiftInterval {
  if (!(outcome.expected > 0)) return { lift: 0, lower: 0, upper: 0 };
  const half = z * Math.sqrt(Math.max(0, outcome.variance));
  return {
    lift: outcome.observed / outcome.expected,
    lower: (outcome.observed - half) / outcome.expected,
    upper: (outcome.observed + half) / outcome.expected,
  };
}

/** The verdict for a stage whose cohort had `size` recipients. */
export function decide(outcome: StageOutcome, size: number, rule: DecisionRule): Verdict {
  const interval = liftInterval(outcome, rule.z);
  if (!(outcome.expected > 0)) {
    return { ...interval, action: 'stop', reason: 'nothing_expected', nextSize: 0 };
  }
  if (interval.lower >= rule.targetLift) {
    return {
      ...interval,
      action: 'expand',
      reason: 'interval_above_target',
      nextSize: Math.ceil(size * rule.expandFactor),
    };
  }
  if (interval.upper >= rule.targetLift) {
    return { ...interval, action: 'resend', reason: 'target_inside_interval', nextSize: size };
  }
  return { ...interval, action: 'stop', reason: 'interval_below_target', nextSize: 0 };
}
