/** Statistics of the push loop: smoothed push CTRs and the normal quantile. Pure functions. */

/** Push history of one user (or of everyone): `push_sent` and `push_open` events counted. */
export interface PushCounts {
  sends: number;
  opens: number;
}

/**
 * A user's usual push CTR, shrunk towards the global push CTR: `(opens + m·g) / (sends + m)`.
 * A user with no history gets `g`; `m` is how many pushes of evidence weigh as much as the prior.
 */
export function smoothedCtr(user: PushCounts, globalCtr: number, m: number): number {
  const value = (user.opens + m * globalCtr) / (user.sends + m);
  return Math.min(1, Math.max(0, value));
}

/** The global push CTR, or `prior` before any push was sent. */
export function globalCtr(totals: PushCounts, prior: number): number {
  return totals.sends > 0 ? Math.min(1, totals.opens / totals.sends) : prior;
}

/** Expected clicks of a cohort and the variance of its click count (independent Bernoulli trials). */
export interface CohortExpectation {
  expected: number;
  variance: number;
}

/** Sum of p and of p(1-p) over the recipients' usual CTRs. */
export function cohortExpectation(ctrs: Iterable<number>): CohortExpectation {
  let expected = 0;
  let variance = 0;
  for (const p of ctrs) {
    expected += p;
    variance += p * (1 - p);
  }
  return { expected, variance };
}

/** erf(x) for x >= 0 from its series of positive terms (stable to ~1e-15 for x < 6). */
function erf(x: number): number {
  if (x >= 6) return 1;
  let term = x;
  let sum = x;
  for (let n = 1; n < 500 && term > sum * 1e-17; n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
  }
  return Math.min(1, (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum);
}

/**
 * The z such that a two-sided normal interval of ±z standard deviations has
 * coverage `level` (0.95 → 1.95996…), by bisection on the normal CDF.
 */
export function zForLevel(level: number): number {
  if (!(level > 0 && level < 1)) {
    throw new RangeError(`confidence level must be in (0, 1), got ${level}`);
  }
  let lo = 0;
  let hi = 12;
  for (let i = 0; i < 200 && hi - lo > 1e-13; i++) {
    const mid = (lo + hi) / 2;
    if (erf(mid / Math.SQRT2) < level) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
