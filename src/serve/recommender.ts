import { decayFactor, decayRate } from '../model/decay.ts';
import type { ModelParams } from '../model/params.ts';
import { Scorer } from '../model/scoring.ts';
import type { Scored } from '../model/topk.ts';
import type { StateStore } from '../state/store.ts';
import type { ItemIndex } from './item-index.ts';
import { similarToItems } from '../scenarios/similar.ts';
import { AnswerCache, NO_ROW, type AnswerBasis } from './answer-cache.ts';

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

/** Users whose last answer is kept. */
const ANSWER_CACHE_USERS = 50_000;
/** Items in the longest answer kept: a longer one is ranked each time. */
const ANSWER_CACHE_WIDTH = 32;

/**
 * Recommendations scored at request time from the state, never precomputed.
 * An answer is reused only while it would be computed the same: same user
 * record, same clicked items (their number and the latest), same item index version.
 */
export class Recommender {
  private readonly answers = new AnswerCache(ANSWER_CACHE_USERS, ANSWER_CACHE_WIDTH);
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

  private readonly idOf = (row: number): string => this.index.ids[row] as string;
  private readonly rowOf = (id: string): number | undefined => this.index.position(id);

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

    const latest = clicked[0];
    const latestClickedRow = latest === undefined ? NO_ROW : this.index.position(latest);
    // A latest clicked item outside the index has no row to compare by: such answers are not kept.
    const basis: AnswerBasis | undefined =
      latestClickedRow === undefined
        ? undefined
        : { userTs: user.ts, userCount: user.count, clicked: exclude.size, latestClickedRow, indexVersion: this.index.version };
    const kept = basis === undefined ? undefined : this.answers.get(userId, basis, k, this.idOf);
    if (kept !== undefined) return { items: kept, coldStart: false };

    // The model's own ranking rule, the one `freshet evaluate` measures, over every item
    // (through the bound index, which skips only items that cannot make the top k).
    const aged = this.index.agedBiases(this.scorer);
    const items = this.index.rank(this.scorer, user.vec, aged, k, exclude);

    if (basis !== undefined) this.answers.set(userId, basis, k, items, this.rowOf);
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
