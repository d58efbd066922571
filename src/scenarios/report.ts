import type { VariantCounts } from './exposure.ts';
import type { Scenario } from './types.ts';

/** Two-sided 95%: the normal quantile 0.975. */
export const Z_95 = 1.959963984540054;

export interface VariantLine extends VariantCounts {
  variant: string;
  /** Declared share; null for a variant no longer in the file. */
  share: number | null;
  /** clicks / impressions; null without impressions. */
  ctr: number | null;
}

export interface Comparison {
  variant: string;
  baseline: string;
  /** ctr(variant) - ctr(baseline); null unless both have impressions. */
  difference: number | null;
  confidence: number;
  /** Normal approximation for a difference of proportions; null unless both have impressions. */
  interval: [number, number] | null;
}

export interface ScenarioReport {
  scenario: string;
  version: string;
  source: string;
  variants: VariantLine[];
  comparisons: Comparison[];
}

/** The difference of two CTRs with its 95% interval (Wald, unpooled). */
export function compare(variant: VariantLine, baseline: VariantLine): Comparison {
  const out: Comparison = {
    variant: variant.variant,
    baseline: baseline.variant,
    difference: null,
    confidence: 0.95,
    interval: null,
  };
  if (variant.ctr === null || baseline.ctr === null) return out;
  const p1 = Math.min(1, variant.ctr);
  const p0 = Math.min(1, baseline.ctr);
  const se = Math.sqrt(
    (p1 * (1 - p1)) / variant.impressions + (p0 * (1 - p0)) / baseline.impressions,
  );
  const difference = variant.ctr - baseline.ctr;
  return { ...out, difference, interval: [difference - Z_95 * se, difference + Z_95 * se] };
}

/**
 * Impressions, clicks and CTR per variant (declared variants first, in file
 * order, then any older ones that still have counts), and each variant
 * compared with the first, the baseline.
 */
export function buildReport(
  scenario: Scenario,
  counts: ReadonlyMap<string, VariantCounts>,
  source: string,
): ScenarioReport {
  const line = (variant: string, share: number | null): VariantLine => {
    const c = counts.get(variant) ?? { impressions: 0, clicks: 0 };
    return { variant, share, ...c, ctr: c.impressions > 0 ? c.clicks / c.impressions : null };
  };
  const declared = scenario.variants.map((v) => line(v.name, v.share));
  const retired = [...counts.keys()]
    .filter((name) => !scenario.variants.some((v) => v.name === name))
    .sort()
    .map((name) => line(name, null));
  const [baseline, ...others] = declared;
  return {
    scenario: scenario.name,
    version: scenario.version,
    source,
    variants: [...declared, ...retired],
    comparisons: baseline === undefined ? [] : others.map((v) => compare(v, baseline)),
  };
}
