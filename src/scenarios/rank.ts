import type { Scored } from '../model/topk.ts';
import type { Plan, SourceKind } from './types.ts';

/** Ranks from the top of each list are blended as weight / (FUSION_OFFSET + rank). */
export const FUSION_OFFSET = 60;

/** What one candidate source proposed, best first. */
export interface CandidateList {
  /** Position of the source in the plan's candidates. */
  source: number;
  items: readonly Scored[];
}

/** What the content events say about an item (absent for items never published). */
export interface ItemFacts {
  category?: string;
  publishedAt?: number;
  ttlSeconds?: number;
}

/** Everything about the request that rules read; time is a parameter, never the wall clock. */
export interface RankContext {
  /** The model's clock: the latest event time applied, ms. */
  clock: number;
  clicked: ReadonlySet<string>;
  /** Times each item was shown to the user. */
  shown: ReadonlyMap<string, number>;
  facts: ReadonlyMap<string, ItemFacts>;
  /** Never served, whatever the plan says (the item of a similar-items page). */
  exclude: ReadonlySet<string>;
  k: number;
}

export interface Ranked {
  itemId: string;
  score: number;
  /** The source that gave the item its largest part (the earlier on a tie); its quota counts it. */
  source: SourceKind;
}

interface Blended {
  itemId: string;
  score: number;
  source: number;
  /** The largest part one source gave. */
  best: number;
}

/** Reciprocal-rank blend of the lists: an item proposed by several sources adds their parts. */
function blend(plan: Plan, lists: readonly CandidateList[]): Blended[] {
  const byId = new Map<string, Blended>();
  for (const list of lists) {
    const weight = plan.candidates[list.source]?.weight ?? 0;
    list.items.forEach((item, rank) => {
      const part = weight / (FUSION_OFFSET + rank + 1);
      const known = byId.get(item.id);
      if (known === undefined) {
        byId.set(item.id, { itemId: item.id, score: part, source: list.source, best: part });
        return;
      }
      known.score += part;
      if (part > known.best || (part === known.best && list.source < known.source)) {
        known.best = part;
        known.source = list.source;
      }
    });
  }
  return [...byId.values()];
}

function expired(facts: ItemFacts | undefined, clock: number): boolean {
  if (facts?.publishedAt === undefined || facts.ttlSeconds === undefined) return false;
  return facts.publishedAt + facts.ttlSeconds * 1000 <= clock;
}

function kept(plan: Plan, ctx: RankContext, itemId: string): boolean {
  const { filters } = plan;
  if (ctx.exclude.has(itemId) || filters.blocked.has(itemId)) return false;
  if (filters.clicked && ctx.clicked.has(itemId)) return false;
  if (filters.shown !== undefined && (ctx.shown.get(itemId) ?? 0) >= filters.shown) return false;
  const facts = ctx.facts.get(itemId);
  if (filters.expired && expired(facts, ctx.clock)) return false;
  const rule = filters.categories;
  if (rule !== undefined) {
    const category = facts?.category;
    if ('include' in rule) return category !== undefined && rule.include.has(category);
    if (category !== undefined && rule.exclude.has(category)) return false;
  }
  return true;
}

function demotionFactor(plan: Plan, ctx: RankContext, itemId: string): number {
  let factor = 1;
  for (const d of plan.demotions) {
    const facts = ctx.facts.get(itemId);
    switch (d.when) {
      case 'seen':
        if ((ctx.shown.get(itemId) ?? 0) >= d.times) factor *= d.factor;
        break;
      case 'clicked':
        if (ctx.clicked.has(itemId)) factor *= d.factor;
        break;
      case 'category':
        if (facts?.category !== undefined && d.categories.has(facts.category)) factor *= d.factor;
        break;
      case 'older':
        if (facts?.publishedAt !== undefined && facts.publishedAt < ctx.clock - d.ageMs)
          factor *= d.factor;
        break;
    }
  }
  return factor;
}

/**
 * One answer from the candidate lists: blend, filter, demote, sort, then take
 * the best items while each source's quota and each category's cap allow.
 * Pure: the same lists and context always give the same answer.
 */
export function rankCandidates(
  plan: Plan,
  lists: readonly CandidateList[],
  ctx: RankContext,
): Ranked[] {
  const candidates = blend(plan, lists)
    .filter((c) => kept(plan, ctx, c.itemId))
    .map((c) => ({
      itemId: c.itemId,
      source: c.source,
      score: c.score * demotionFactor(plan, ctx, c.itemId),
    }))
    .sort((a, b) => b.score - a.score || a.source - b.source || (a.itemId < b.itemId ? -1 : 1));

  const perSource = new Map<number, number>();
  const perCategory = new Map<string, number>();
  const out: Ranked[] = [];
  for (const c of candidates) {
    if (out.length >= ctx.k) break;
    const quota = plan.candidates[c.source]?.quota;
    const fromSource = perSource.get(c.source) ?? 0;
    if (quota !== undefined && fromSource >= quota) continue;
    const category = ctx.facts.get(c.itemId)?.category;
    const inCategory = category === undefined ? 0 : (perCategory.get(category) ?? 0);
    if (
      plan.maxPerCategory !== undefined &&
      category !== undefined &&
      inCategory >= plan.maxPerCategory
    )
      continue;

    perSource.set(c.source, fromSource + 1);
    if (category !== undefined) perCategory.set(category, inCategory + 1);
    const kind = plan.candidates[c.source]?.kind ?? 'model';
    out.push({ itemId: c.itemId, score: c.score, source: kind });
  }
  return out;
}
