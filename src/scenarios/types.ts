/**
 * A scenario as loaded from a pipeline file (`kind: scenario`): plain,
 * frozen data. Nothing in it is code; docs/scenarios.md is the reference.
 */

export const SOURCE_KINDS = ['model', 'trending', 'similar', 'fresh'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

interface SourceCommon {
  /** Candidates this source fetches. */
  limit: number;
  /** Most items of one answer taken from this source; undefined: no cap. */
  quota: number | undefined;
  /** Weight of the source's ranks in the blend. */
  weight: number;
}

export interface ModelSource extends SourceCommon {
  kind: 'model';
}

export interface TrendingSource extends SourceCommon {
  kind: 'trending';
  /** Rank by decayed clicks, or by decayed clicks / decayed views. */
  by: 'clicks' | 'ctr';
  /** For `ctr`: items with fewer decayed views are skipped. */
  minViews: number;
  /** For `ctr`: how many of the most clicked items are ranked by CTR. */
  pool: number;
}

export interface SimilarSource extends SourceCommon {
  kind: 'similar';
  /** Similar to the user's most recent clicks, or to the item of the request. */
  of: 'clicks' | 'item';
  /** For `clicks`: how many recent clicks make the query. */
  recent: number;
}

export interface FreshSource extends SourceCommon {
  kind: 'fresh';
  /** Content published at most this long before the model's clock, ms. */
  maxAgeMs: number;
}

export type CandidateSource = ModelSource | TrendingSource | SimilarSource | FreshSource;

export type CategoryRule = { include: ReadonlySet<string> } | { exclude: ReadonlySet<string> };

export interface Filters {
  /** Drop items the user clicked. */
  clicked: boolean;
  /** Drop items already shown to the user this many times or more; undefined: off. */
  shown: number | undefined;
  categories: CategoryRule | undefined;
  /** Drop content past publishedAt + ttlSeconds at the model's clock. */
  expired: boolean;
  blocked: ReadonlySet<string>;
}

export type Demotion =
  | { when: 'seen'; times: number; factor: number }
  | { when: 'clicked'; factor: number }
  | { when: 'category'; categories: ReadonlySet<string>; factor: number }
  | { when: 'older'; ageMs: number; factor: number };

/** Everything that decides one answer; a variant may replace any section. */
export interface Plan {
  k: { default: number; max: number };
  candidates: readonly CandidateSource[];
  filters: Filters;
  demotions: readonly Demotion[];
  /** At most this many items of one category per answer; undefined: no cap. */
  maxPerCategory: number | undefined;
}

export interface Variant {
  name: string;
  /** Share of users, 0 to 1; the shares of a scenario add up to 1. */
  share: number;
  plan: Plan;
}

export interface Scenario {
  name: string;
  description: string;
  /** The file it came from, as given to the loader. */
  file: string;
  /** First 12 hex digits of the SHA-256 of the file's text. */
  version: string;
  salt: string;
  /** In file order; the first is the baseline of reports and the variant of anonymous requests. */
  variants: readonly Variant[];
}

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
