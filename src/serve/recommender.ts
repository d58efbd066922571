import { decayFactor, decayRate } from '../model/decay.ts';
import type { ModelParams } from '../model/params.ts';
import { Scorer } from '../model/scoring.ts';
import { TopK, type Scored } from '../model/topk.ts';
import type { StateStore } from '../state/store.ts';
import type { ItemIndex } from './item-index.ts';

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

/** Recommendations scored at request time from the state, never precomputed. */
export class Recommender {
  private readonly store: StateStore;
  private readonly index: ItemIndex;
  private readonly scorer: Scorer;
  private readonly trendingRate: number;
  /** Longest an answer may lag the state, ms. */
  private readonly maxStalenessMs: number;

  constructor(store: StateStore, index: ItemIndex, params: ModelParams, maxStalenessMs = 100) {
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
      this.index.ensureFresh(this.maxStalenessMs),
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

    // The model's own ranking rule, the one `freshet evaluate` measures.
    const items = this.scorer.rank(user.vec, this.index, this.index.clock, k, exclude);
    return { items, coldStart: false };
  }

  /** Items whose vectors point the same way (cosine similarity); undefined for an unknown item. */
  async similar(itemId: string, k: number): Promise<Scored[] | undefined> {
    await this.index.ensureFresh(this.maxStalenessMs);
    const { index } = this;
    const position = index.position(itemId);
    if (position === undefined) return undefined;
    const d = index.dimensions;
    const q = index.vectorAt(position);
    const qNorm = Math.sqrt(q.reduce((s, x) => s + x * x, 0)) || 1;
    const top = new TopK(k);
    for (let row = 0; row < index.size; row++) {
      if (row === position) continue;
      let dot = 0;
      let norm = 0;
      const base = row * d;
      for (let f = 0; f < d; f++) {
        const x = index.vectors[base + f] as number;
        dot += (q[f] as number) * x;
        norm += x * x;
      }
      top.push(index.ids[row] as string, dot / (qNorm * (Math.sqrt(norm) || 1)));
    }
    return top.result();
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
