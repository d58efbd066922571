/** Impressions and clicks of one scenario variant. */
export interface VariantCounts {
  impressions: number;
  clicks: number;
}

export interface VariantDelta extends VariantCounts {
  scenario: string;
  variant: string;
}

export interface ExposureOptions {
  /** Items remembered per user as shown; the least recently shown are forgotten first. */
  maxShown: number;
  /** A user's shown items are forgotten this long after their last change, ms. */
  ttlMs: number;
}

/**
 * What the scenarios remember about users beyond the model: the items each
 * user was served (counted per item, capped per user, expiring), and impression
 * and click counters per scenario variant. (A user's clicked items are model
 * state: StateStore.getClicked.) Two implementations: in process and Redis.
 */
export interface ExposureStore {
  readonly kind: 'memory' | 'redis';
  /** Counts one more showing of each item to the user at `now` (ms). */
  recordShown(userId: string, itemIds: readonly string[], now: number): Promise<void>;
  /** Times each remembered item was shown to the user. */
  shownCounts(userId: string): Promise<Map<string, number>>;
  addVariantCounts(deltas: readonly VariantDelta[]): Promise<void>;
  variantCounts(scenario: string): Promise<Map<string, VariantCounts>>;
}

/** Users tracked by the in-process store; the least recently touched are dropped first. */
const MEMORY_MAX_USERS = 100_000;

interface Shown {
  count: number;
  last: number;
}

/** Keeps `map` within `max` entries, dropping the oldest touched. */
function touch<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= max) break;
    map.delete(oldest);
  }
}

/** The embedded implementation: bounded, lost when the process ends. */
export class MemoryExposureStore implements ExposureStore {
  readonly kind = 'memory' as const;
  private readonly options: ExposureOptions;
  private readonly shown = new Map<string, Map<string, Shown>>();
  private readonly counters = new Map<string, Map<string, VariantCounts>>();

  constructor(options: ExposureOptions) {
    this.options = options;
  }

  async recordShown(userId: string, itemIds: readonly string[], now: number): Promise<void> {
    const items = this.shown.get(userId) ?? new Map<string, Shown>();
    for (const itemId of itemIds) {
      touch(
        items,
        itemId,
        { count: (items.get(itemId)?.count ?? 0) + 1, last: now },
        this.options.maxShown,
      );
    }
    touch(this.shown, userId, items, MEMORY_MAX_USERS);
  }

  async shownCounts(userId: string): Promise<Map<string, number>> {
    const items = this.shown.get(userId);
    return new Map([...(items ?? [])].map(([id, s]) => [id, s.count]));
  }

  async addVariantCounts(deltas: readonly VariantDelta[]): Promise<void> {
    for (const d of deltas) {
      const variants = this.counters.get(d.scenario) ?? new Map<string, VariantCounts>();
      const c = variants.get(d.variant) ?? { impressions: 0, clicks: 0 };
      variants.set(d.variant, {
        impressions: c.impressions + d.impressions,
        clicks: c.clicks + d.clicks,
      });
      this.counters.set(d.scenario, variants);
    }
  }

  async variantCounts(scenario: string): Promise<Map<string, VariantCounts>> {
    return new Map([...(this.counters.get(scenario) ?? [])].map(([v, c]) => [v, { ...c }]));
  }
}
