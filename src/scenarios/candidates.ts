import type { ContentEvent } from '../events/schema.ts';
import type { ItemRecord } from '../model/records.ts';
import type { Scored } from '../model/topk.ts';
import type { ItemIndex } from '../serve/item-index.ts';
import type { Recommender } from '../serve/recommender.ts';
import type { CandidateList } from './rank.ts';
import { similarToItems } from './similar.ts';
import type { CandidateSource, Plan, TrendingSource } from './types.ts';

/** The state reads candidates need; the API gives its hot-key cache (src/serve/cache.ts). */
export interface ServingReads {
  trending(k: number): Promise<Scored[]>;
  getItems(itemIds: readonly string[]): Promise<Array<ItemRecord | undefined>>;
  getClicked(userId: string): Promise<string[]>;
  getContents(itemIds: readonly string[]): Promise<Array<ContentEvent | undefined>>;
  freshContent(sinceMs: number, limit: number): Promise<ContentEvent[]>;
  clock(): Promise<number>;
  /** A value derived from state, shared by concurrent requests and kept as briefly as state is. */
  remember<T>(key: string, compute: () => Promise<T>): Promise<T>;
}

export interface CandidateDeps {
  recommender: Recommender;
  index: ItemIndex;
  reads: ServingReads;
  /** How stale the item index may be, ms. */
  maxStalenessMs: number;
}

export interface CandidateRequest {
  userId: string | undefined;
  /** The item of a similar-items page. */
  itemId: string | undefined;
  /** The model's clock, ms. */
  clock: number;
}

export interface Gathered {
  lists: CandidateList[];
  /** A model source was asked and had no history for the user. */
  coldStart: boolean;
}

async function trendingByCtr(reads: ServingReads, source: TrendingSource): Promise<Scored[]> {
  const pool = await reads.trending(source.pool);
  const records = await reads.getItems(pool.map((s) => s.id));
  const ranked: Scored[] = [];
  pool.forEach((s, i) => {
    const r = records[i];
    // Decayed clicks and views age with the same half-life, so their ratio needs no aging.
    if (r !== undefined && r.views >= source.minViews && r.views > 0)
      ranked.push({ id: s.id, score: r.clicks / r.views });
  });
  return ranked.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, source.limit);
}

async function fetchSource(
  deps: CandidateDeps,
  source: CandidateSource,
  request: CandidateRequest,
  cold: { value: boolean },
): Promise<Scored[]> {
  const { userId, itemId } = request;
  switch (source.kind) {
    case 'model': {
      if (userId === undefined) return [];
      const result = await deps.recommender.recommend(userId, source.limit);
      if (result.coldStart) cold.value = true;
      return result.coldStart ? [] : result.items;
    }
    case 'trending':
      if (source.by === 'clicks') return deps.reads.trending(source.limit);
      return deps.reads.remember(`ctr:${source.pool}:${source.minViews}:${source.limit}`, () =>
        trendingByCtr(deps.reads, source),
      );
    case 'similar': {
      if (source.of === 'item') {
        return itemId === undefined
          ? []
          : ((await deps.recommender.similar(itemId, source.limit)) ?? []);
      }
      if (userId === undefined) return [];
      const [clicked] = await Promise.all([
        deps.reads.getClicked(userId).then((clicked) => clicked.slice(0, source.recent)),
        deps.index.ensureFresh(deps.maxStalenessMs),
      ]);
      return similarToItems(deps.index, clicked, source.limit);
    }
    case 'fresh': {
      const since = request.clock > 0 ? request.clock - source.maxAgeMs : 0;
      const contents = await deps.reads.freshContent(since, source.limit);
      return contents.map((c) => ({ id: c.itemId, score: c.publishedAt }));
    }
  }
}

/** Every source of the plan, asked at once. */
export async function gatherCandidates(
  deps: CandidateDeps,
  plan: Plan,
  request: CandidateRequest,
): Promise<Gathered> {
  const cold = { value: false };
  const lists = await Promise.all(
    plan.candidates.map(async (source, i) => ({
      source: i,
      items: await fetchSource(deps, source, request, cold),
    })),
  );
  return { lists, coldStart: cold.value };
}
