/** Decay rate per millisecond for a half-life in milliseconds (0 half-life disables decay). */
export function decayRate(halfLifeMs: number): number {
  return halfLifeMs > 0 ? Math.LN2 / halfLifeMs : 0;
}

/**
 * Factor that ages a value last updated at `then` to time `now`. A negative age
 * (an out-of-order event older than the last update) never grows a value: it is 1.
 */
export function decayFactor(rate: number, then: number, now: number): number {
  const age = now - then;
  return age > 0 ? Math.exp(-rate * age) : 1;
}
