import { describe, expect, it } from 'vitest';
import {
  FUSION_OFFSET,
  rankCandidates,
  type CandidateList,
  type ItemFacts,
  type RankContext,
} from '../../src/scenarios/rank.ts';
import type { CandidateSource, Filters, Plan } from '../../src/scenarios/types.ts';

const DAY = 86_400_000;
const CLOCK = 100 * DAY;

const model: CandidateSource = { kind: 'model', limit: 100, quota: undefined, weight: 1 };
const fresh: CandidateSource = {
  kind: 'fresh',
  limit: 100,
  quota: undefined,
  weight: 1,
  maxAgeMs: 2 * DAY,
};

const noFilters: Filters = {
  clicked: false,
  shown: undefined,
  categories: undefined,
  expired: false,
  blocked: new Set(),
};

function plan(partial: Partial<Plan> = {}, filters: Partial<Filters> = {}): Plan {
  return {
    k: { default: 10, max: 100 },
    candidates: [model, fresh],
    demotions: [],
    maxPerCategory: undefined,
    ...partial,
    filters: { ...noFilters, ...filters },
  };
}

function list(source: number, ids: string[]): CandidateList {
  return { source, items: ids.map((id, i) => ({ id, score: 100 - i })) };
}

function context(partial: Partial<RankContext> = {}): RankContext {
  return {
    clock: CLOCK,
    clicked: new Set(),
    shown: new Map(),
    facts: new Map(),
    exclude: new Set(),
    k: 10,
    ...partial,
  };
}

const rrf = (rank: number, weight = 1) => weight / (FUSION_OFFSET + rank);
const ids = (ranked: Array<{ itemId: string }>) => ranked.map((r) => r.itemId);

describe('scenario ranking', () => {
  it('blends sources by reciprocal rank, adding the parts of an item proposed twice', () => {
    const out = rankCandidates(plan(), [list(0, ['a', 'b', 'c']), list(1, ['c', 'd'])], context());
    expect(out).toEqual([
      { itemId: 'c', score: rrf(3) + rrf(1), source: 'fresh' },
      { itemId: 'a', score: rrf(1), source: 'model' },
      { itemId: 'b', score: rrf(2), source: 'model' },
      { itemId: 'd', score: rrf(2), source: 'fresh' },
    ]);
  });

  it('weighs a source by its weight', () => {
    const heavy = plan({ candidates: [model, { ...fresh, weight: 3 }] });
    const out = rankCandidates(heavy, [list(0, ['a']), list(1, ['f1', 'f2'])], context());
    expect(ids(out)).toEqual(['f1', 'f2', 'a']);
    expect(out[0]!.score).toBeCloseTo(rrf(1, 3), 12);
  });

  it('cuts the answer at k', () => {
    const out = rankCandidates(plan(), [list(0, ['a', 'b', 'c', 'd'])], context({ k: 2 }));
    expect(ids(out)).toEqual(['a', 'b']);
  });

  it('filters the items the user clicked', () => {
    const lists = [list(0, ['a', 'b', 'c'])];
    const ctx = context({ clicked: new Set(['b']) });
    expect(ids(rankCandidates(plan({}, { clicked: true }), lists, ctx))).toEqual(['a', 'c']);
    expect(ids(rankCandidates(plan({}, { clicked: false }), lists, ctx))).toEqual(['a', 'b', 'c']);
  });

  it('filters items already shown the given number of times', () => {
    const ctx = context({
      shown: new Map([
        ['a', 3],
        ['b', 2],
      ]),
    });
    const out = rankCandidates(plan({}, { shown: 3 }), [list(0, ['a', 'b', 'c'])], ctx);
    expect(ids(out)).toEqual(['b', 'c']);
  });

  it('keeps only included categories (items without one are dropped)', () => {
    const facts = new Map<string, ItemFacts>([
      ['a', { category: 'news' }],
      ['b', { category: 'sport' }],
    ]);
    const out = rankCandidates(
      plan({}, { categories: { include: new Set(['news']) } }),
      [list(0, ['a', 'b', 'c'])],
      context({ facts }),
    );
    expect(ids(out)).toEqual(['a']);
  });

  it('drops excluded categories (items without one are kept)', () => {
    const facts = new Map<string, ItemFacts>([
      ['a', { category: 'adult' }],
      ['b', { category: 'sport' }],
    ]);
    const out = rankCandidates(
      plan({}, { categories: { exclude: new Set(['adult']) } }),
      [list(0, ['a', 'b', 'c'])],
      context({ facts }),
    );
    expect(ids(out)).toEqual(['b', 'c']);
  });

  it('filters content past publishedAt + ttlSeconds at the model clock, not the wall clock', () => {
    const facts = new Map<string, ItemFacts>([
      ['gone', { publishedAt: CLOCK - 7200_000, ttlSeconds: 3600 }],
      ['edge', { publishedAt: CLOCK - 3600_000, ttlSeconds: 3600 }],
      ['live', { publishedAt: CLOCK - 3599_000, ttlSeconds: 3600 }],
      ['forever', { publishedAt: 0 }],
    ]);
    const lists = [list(0, ['gone', 'edge', 'live', 'forever', 'unknown'])];
    expect(ids(rankCandidates(plan({}, { expired: true }), lists, context({ facts })))).toEqual([
      'live',
      'forever',
      'unknown',
    ]);
    expect(
      ids(
        rankCandidates(
          plan({}, { expired: true }),
          lists,
          context({ facts, clock: CLOCK - 7200_000 }),
        ),
      ),
    ).toHaveLength(5);
  });

  it('never serves blocked items, nor the item of the page', () => {
    const lists = [list(0, ['a', 'b', 'c'])];
    expect(ids(rankCandidates(plan({}, { blocked: new Set(['a']) }), lists, context()))).toEqual([
      'b',
      'c',
    ]);
    expect(ids(rankCandidates(plan(), lists, context({ exclude: new Set(['c']) })))).toEqual([
      'a',
      'b',
    ]);
  });

  it('demotes seen items by their factor instead of removing them', () => {
    const demoting = plan({ demotions: [{ when: 'seen', times: 2, factor: 0.5 }] });
    const ctx = context({
      shown: new Map([
        ['a', 2],
        ['b', 1],
      ]),
    });
    const out = rankCandidates(demoting, [list(0, ['a', 'b', 'c'])], ctx);
    expect(out.map((r) => [r.itemId, r.score])).toEqual([
      ['b', rrf(2)],
      ['c', rrf(3)],
      ['a', rrf(1) * 0.5],
    ]);
  });

  it('demotes clicked items, given categories and old content, multiplying factors', () => {
    const demoting = plan({
      demotions: [
        { when: 'clicked', factor: 0.5 },
        { when: 'category', categories: new Set(['ads']), factor: 0.25 },
        { when: 'older', ageMs: DAY, factor: 0.1 },
      ],
    });
    const facts = new Map<string, ItemFacts>([
      ['ad', { category: 'ads', publishedAt: CLOCK - 2 * DAY }],
      ['new', { category: 'ads', publishedAt: CLOCK - DAY / 2 }],
    ]);
    const ctx = context({ clicked: new Set(['ad', 'x']), facts });
    const scores = new Map(
      rankCandidates(demoting, [list(0, ['ad', 'new', 'x', 'y'])], ctx).map((r) => [
        r.itemId,
        r.score,
      ]),
    );
    expect(scores.get('ad')).toBeCloseTo(rrf(1) * 0.5 * 0.25 * 0.1, 15);
    expect(scores.get('new')).toBeCloseTo(rrf(2) * 0.25, 15);
    expect(scores.get('x')).toBeCloseTo(rrf(3) * 0.5, 15);
    expect(scores.get('y')).toBeCloseTo(rrf(4), 15);
  });

  it('takes at most `quota` items from a source, the rest from others', () => {
    const quota = plan({ candidates: [model, { ...fresh, weight: 5, quota: 2 }] });
    const out = rankCandidates(
      quota,
      [list(0, ['a', 'b', 'c']), list(1, ['f1', 'f2', 'f3', 'f4'])],
      context({ k: 5 }),
    );
    expect(ids(out)).toEqual(['f1', 'f2', 'a', 'b', 'c']);
    expect(out.filter((r) => r.source === 'fresh')).toHaveLength(2);
  });

  it('counts an item proposed by two sources against the one that ranks it best', () => {
    const quota = plan({ candidates: [{ ...model, quota: 1 }, fresh] });
    const out = rankCandidates(
      quota,
      [list(0, ['a', 'shared']), list(1, ['shared', 'f'])],
      context(),
    );
    expect(out.map((r) => [r.itemId, r.source])).toEqual([
      ['shared', 'fresh'],
      ['a', 'model'],
      ['f', 'fresh'],
    ]);
    const tie = rankCandidates(
      quota,
      [list(0, ['shared', 'a']), list(1, ['shared', 'f'])],
      context(),
    );
    expect(tie.map((r) => [r.itemId, r.source])).toEqual([
      ['shared', 'model'],
      ['f', 'fresh'],
    ]);
  });

  it('serves at most maxPerCategory items of one category', () => {
    const facts = new Map<string, ItemFacts>(
      ['n1', 'n2', 'n3', 's1'].map((id) => [
        id,
        { category: id.startsWith('n') ? 'news' : 'sport' },
      ]),
    );
    const out = rankCandidates(
      plan({ maxPerCategory: 2 }),
      [list(0, ['n1', 'n2', 'n3', 's1', 'x'])],
      context({ facts }),
    );
    expect(ids(out)).toEqual(['n1', 'n2', 's1', 'x']);
  });

  it('breaks score ties by source order, then item id, so answers are stable', () => {
    const out = rankCandidates(plan(), [list(0, ['b']), list(1, ['a'])], context());
    expect(ids(out)).toEqual(['b', 'a']);
    const again = rankCandidates(
      plan({ candidates: [model, model] }),
      [list(0, ['b']), list(1, ['a'])],
      context(),
    );
    expect(ids(again)).toEqual(['b', 'a']);
  });
});
