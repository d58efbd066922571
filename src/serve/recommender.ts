import { decayFactor, decayRate } from '../model/decay.ts';
import type { ModelParams } from '../model/params.ts';
import { Scorer } from '../model/scoring.ts';
import type { Scored } from '../model/topk.ts';
import type { StateStore } from '../state/store.ts';
import type { ItemIndex } from './item-index.ts';
import { similarToItems } from '../scenarios/similar.ts';

export interface Recommendations {
  items: Scored[];
  /** True when the user has no history yet and trending items were served. */
  coldStart: boolean;
}

export interface ItemStats {
  itemId: string;
  views: number;
  clicks: number;
  ctr: number | null;
  decayed: { views: number; clicks: number; ctr: number | null; asOf: string | null };
}

/** A user's answer, valid while neither the user nor the item index has changed. */
interface CachedAnswer {
  userTs: number;
  userCount: number;
  /** How many clicked items were excluded, and the latest of them (the count stops at the cap). */
  clicked: number;
  latestClicked: string | undefined;
  indexVersion: number;
  k: number;
  /**
   * The answer, best first, as two flat arrays rather than an object per item: tens of thousands
   * of answers live in the old generation, and each object there lengthens every full collection.
   */
  ids: string[];
  scores: number[];
}

/** Users whose last answer is kept; the oldest leaves first. */
const ANSWER_CACHE_USERS = 50_000;

/**
 * Recommendations scored at request time from the state, never precomputed.
 * An answer is reused only while it would be computed the same: same user
 * record, same clicked items (their number and the latest), same item index version.
 */
export class Recommender {
  private readonly answers = new Map<string, CachedAnswer>();
  private readonly store: StateStore;
  private readonly index: ItemIndex;
  private readonly scorer: Scorer;
  private readonly trendingRate: number;
  /** Longest an answer may lag the state, ms. */
  private readonly maxStalenessMs: number;

  /**
   * True for the quality sample: the index is refreshed in the background when due, never
   * waited for (the sample runs while a batch waits to be applied).
   */
  private readonly background: boolean;

  constructor(store: StateStore, index: ItemIndex, params: ModelParams, maxStalenessMs = 100, background = false) {
    this.background = background;
    this.store = store;
    this.index = index;
    this.scorer = new Scorer(params);
    this.trendingRate = decayRate(params.halfLifeMs.trending);
    this.maxStalenessMs = maxStalenessMs;
  }

  async recommend(userId: string, k: number): Promise<Recommendations> {
    const [user, clicked] = await Promise.all([
      this.store.getUser(userId),
      this.store.getClicked(userId),
      this.index.ensureFresh(this.maxStalenessMs, this.background),
    ]);
    const exclude = new Set(clicked);
    if (user === undefined || user.count === 0) {
      const trending = await this.store.trending(k + exclude.size);
      // Stored scores are ln(decayed clicks) + rate * ts; served as decayed clicks at the model's clock.
      const items = trending
        .filter((s) => !exclude.has(s.id))
        .slice(0, k)
        .map((s) => ({ id: s.id, score: Math.exp(s.score - this.trendingRate * this.index.clock) }));
      return { items, coldStart: true };
    }

    const cached = this.answers.get(userId);
    if (
      cached !== undefined &&
      cached.userTs === user.ts &&
      cached.userCount === user.count &&
      cached.clicked === exclude.size &&
      cached.latestClicked === clicked[0] &&
      cached.indexVersion === this.index.version &&
      cached.k >= k
    ) {
      const items: Scored[] = [];
      for (let i = 0; i < k && i < cached.ids.length; i++) {
        items.push({ id: cached.ids[i] as string, score: cached.scores[i] as number });
      }
      return { items, coldStart: false };
    }

    // The model's own ranking rule, the one `freshet evaluate` measures, over every item
    // (through the bound index, which skips only items that cannot make the top k).
    const aged = this.index.agedBiases(this.scorer);
    const items = this.index.rank(this.scorer, user.vec, aged, k, exclude);

    this.answers.delete(userId);
    this.answers.set(userId, {
      userTs: user.ts,
      userCount: user.count,
      clicked: exclude.size,
      latestClicked: clicked[0],
      indexVersion: this.index.version,
      k,
      ids: items.map((s) => s.id),
      scores: items.map((s) => s.score),
    });
    if (this.answers.size > ANSWER_CACHE_USERS) this.answers.delete(this.answers.keys().next().value as string);
    return { items, coldStart: false };
  }

  /** Items whose vectors point the same way (cosine similarity); undefined for an unknown item. */
  async similar(itemId: string, k: number): Promise<Scored[] | undefined> {
    await this.index.ensureFresh(this.maxStalenessMs, this.background);
    if (this.index.position(itemId) === undefined) return undefined;
    return similarToItems(this.index, [itemId], k);
  }

  async stats(itemId: string): Promise<ItemStats | undefined> {
    const [counts, item, clock] = await Promise.all([
      this.store.getItemCounts(itemId),
      this.store.getItem(itemId),
      this.store.clock(),
    ]);
    if (item === undefined && counts.views === 0 && counts.clicks === 0) return undefined;
    const factor = item === undefined ? 0 : decayFactor(this.trendingRate, item.ts, clock);
    const views = (item?.views ?? 0) * factor;
    const clicks = (item?.clicks ?? 0) * factor;
    return {
      itemId,
      views: counts.views,
      clicks: counts.clicks,
      ctr: counts.views > 0 ? counts.clicks / counts.views : null,
      decayed: {
        views,
        clicks,
        ctr: views > 0 ? clicks / views : null,
        asOf: clock > 0 ? new Date(clock).toISOString() : null,
      },
    };
  }
}
