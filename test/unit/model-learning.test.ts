import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModelParams, parseModelFile } from '../../src/config/model-file.ts';
import { YamlFile } from '../../src/config/yaml-file.ts';
import { FreshetError } from '../../src/errors.ts';
import type { InteractionEvent } from '../../src/events/schema.ts';
import { NegativeSampler } from '../../src/model/negatives.ts';
import { HISTORY_SOURCE, OnlineModel, type StateSnapshot } from '../../src/model/online-mf.ts';
import { trendingScore } from '../../src/model/item-merge.ts';
import { DEFAULT_MODEL_PARAMS, type ModelParams } from '../../src/model/params.ts';
import { seededRandom } from '../../src/model/random.ts';
import { Scorer, type ItemMatrix } from '../../src/model/scoring.ts';

const PIPELINES = fileURLToPath(new URL('../../pipelines', import.meta.url));

function state(): StateSnapshot {
  return { users: new Map(), items: new Map() };
}

function commit(into: StateSnapshot, model: OnlineModel, events: InteractionEvent[]) {
  const effects = model.apply(model.plan(events), into);
  for (const [id, u] of effects.users) into.users.set(id, u);
  for (const [id, i] of effects.items) into.items.set(id, i);
  return effects;
}

const params: ModelParams = { ...DEFAULT_MODEL_PARAMS, dimensions: 8 };

describe('real negatives', () => {
  it('pair a click with the views its user left unclicked in the batch, sampling nothing', () => {
    const model = new OnlineModel(params);
    const events: InteractionEvent[] = [
      { type: 'view', userId: 'u', itemId: 'a', ts: 10 },
      { type: 'view', userId: 'u', itemId: 'b', ts: 10 },
      { type: 'click', userId: 'u', itemId: 'b', ts: 10 },
      { type: 'view', userId: 'u', itemId: 'c', ts: 10 },
      { type: 'view', userId: 'w', itemId: 'd', ts: 10 },
    ];
    const plan = model.plan(events);
    expect(plan.negatives[2]).toEqual(['a', 'c']);
    expect(plan.realNegatives).toEqual([false, false, true, false, false]);
    expect(plan.paired).toEqual([true, false, false, true, false]);
    expect(plan.cancelled).toEqual([false, true, false, false, false]);
    expect(plan.itemIds.sort()).toEqual(['a', 'b', 'c', 'd']);

    const effects = model.apply(plan, state());
    const bias = (id: string) => effects.items.get(id)?.bias as number;
    expect(bias('b')).toBeGreaterThan(0);
    expect(bias('a')).toBeLessThan(0);
    expect(bias('a') + bias('b') + bias('c')).toBeCloseTo(0, 3); // zero-sum but for the L2 pull
    expect(bias('d')).toBeLessThan(0); // viewed without any click of its user: pushed down alone
    expect(effects.counts.get('b')).toEqual({ views: 1, clicks: 1 });
  });

  it("cancel a view only by the same user's click of the same item, whatever characters the ids hold", () => {
    const model = new OnlineModel(params);
    const plan = model.plan([
      { type: 'view', userId: 'a\u0000b', itemId: 'c', ts: 1 },
      { type: 'click', userId: 'a', itemId: 'b\u0000c', ts: 2 },
      { type: 'view', userId: 'a', itemId: 'b\u0000c', ts: 3 },
    ]);
    expect(plan.cancelled).toEqual([false, false, true]);
  });

  it('make the clicked item outrank the skipped ones for a new user after a few impressions', () => {
    const model = new OnlineModel(params);
    const s = state();
    for (let i = 0; i < 20; i++) {
      const user = `u${i}`;
      commit(s, model, [
        { type: 'view', userId: user, itemId: 'hit', ts: i },
        { type: 'click', userId: user, itemId: 'hit', ts: i },
        { type: 'view', userId: user, itemId: 'miss1', ts: i },
        { type: 'view', userId: user, itemId: 'miss2', ts: i },
      ]);
    }
    const score = (id: string) => model.score(undefined, s.items.get(id) ?? model.newItem(id, 20), 20);
    expect(score('hit')).toBeGreaterThan(score('miss1'));
    expect(score('hit')).toBeGreaterThan(score('miss2'));
  });
});

describe('history clicks', () => {
  it('train the vectors but leave counters, trending and biases alone', () => {
    const model = new OnlineModel(params);
    const s = state();
    commit(s, model, [{ type: 'click', userId: 'x', itemId: 'pool', ts: 1 }]);
    const before = s.items.get('pool')!;
    const effects = commit(s, model, [
      { type: 'click', userId: 'u', itemId: 'old', ts: 5, source: HISTORY_SOURCE },
    ]);
    expect(effects.counts.size).toBe(0);
    expect(trendingScore(effects.items.get('old')!, model.trendingRate)).toBeUndefined();
    expect(effects.clock).toBe(0);
    expect([...(effects.clicked.get('u') ?? [])]).toEqual([['old', 5]]);
    expect(effects.users.get('u')?.count).toBe(1);
    expect(effects.items.get('old')).toMatchObject({ bias: 0, views: 0, clicks: 0 });
    expect(effects.items.get('pool')?.bias).toBeCloseTo(before.bias, 8); // only aged 4 ms
    expect(effects.items.get('old')?.vec).not.toEqual(model.newItem('old', 5).vec);
  });
});

describe('negative sampling', () => {
  function shares(uniformShare: number): number {
    const sampler = new NegativeSampler({ perPositive: 1, poolSize: 100, uniformShare, realWeight: 1, perBatch: 0 }, seededRandom(5));
    for (let i = 0; i < 9; i++) sampler.remember('hot');
    sampler.remember('cold');
    let hot = 0;
    for (let i = 0; i < 4000; i++) if (sampler.sample('other')[0] === 'hot') hot++;
    return hot / 4000;
  }

  it('follows popularity at uniformShare 0 and not at 1', () => {
    expect(shares(0)).toBeCloseTo(0.9, 1);
    expect(shares(1)).toBeCloseTo(0.5, 1);
  });

  it('draws the negatives of a large batch among perBatch items, and those of a small one from the pool', () => {
    const sampler = new NegativeSampler({ perPositive: 5, poolSize: 1000, uniformShare: 1, realWeight: 1, perBatch: 40 }, seededRandom(2));
    for (let i = 0; i < 1000; i++) sampler.remember(`i${i}`);
    expect(sampler.batchPool(8)).toBeUndefined(); // 40 draws at most: no bound needed
    const among = sampler.batchPool(100) as string[];
    expect(new Set(among).size).toBe(40);
    const drawn = new Set<string>();
    for (let i = 0; i < 100; i++) for (const id of sampler.sample('i1', among)) drawn.add(id);
    expect([...drawn].every((id) => among.includes(id))).toBe(true);
    expect(drawn.size).toBeGreaterThan(35);
  });

  it('marks which places of the batch pool a click drew, and only those', () => {
    const sampler = new NegativeSampler({ perPositive: 5, poolSize: 1000, uniformShare: 1, realWeight: 1, perBatch: 40 }, seededRandom(3));
    for (let i = 0; i < 1000; i++) sampler.remember(`i${i}`);
    const among = sampler.batchPool(100) as string[];
    const marks = new Uint8Array(among.length);
    const drawn = new Set<string>();
    for (let i = 0; i < 4; i++) for (const id of sampler.sample(among[0] as string, among, marks)) drawn.add(id);
    expect(drawn.size).toBeGreaterThan(5);
    expect(among.filter((_, at) => marks[at] === 1).sort()).toEqual([...drawn].sort());
  });

  it("has a large batch read exactly its events' items and the negatives it drew", () => {
    const model = new OnlineModel({ ...params, negatives: { ...params.negatives, perPositive: 5, perBatch: 30 } });
    const warm: InteractionEvent[] = Array.from({ length: 200 }, (_, i) => ({ type: 'click', userId: `w${i}`, itemId: `p${i}`, ts: 1 }));
    model.plan(warm);
    const events: InteractionEvent[] = Array.from({ length: 12 }, (_, i) => ({ type: 'click', userId: `u${i}`, itemId: `x${i % 3}`, ts: 2 }));
    const plan = model.plan(events);
    const negatives = plan.negatives.flat();
    expect(negatives.length).toBe(60);
    expect(new Set(negatives).size).toBeLessThanOrEqual(30); // drawn among the batch's pool
    expect(plan.itemIds.slice().sort()).toEqual([...new Set([...events.map((e) => e.itemId), ...negatives])].sort());
  });

  it('never returns the positive itself and forgets the oldest distinct items', () => {
    const sampler = new NegativeSampler({ perPositive: 3, poolSize: 2, uniformShare: 1, realWeight: 1, perBatch: 0 }, seededRandom(1));
    for (const id of ['a', 'b', 'c']) sampler.remember(id);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) for (const id of sampler.sample('b')) seen.add(id);
    expect([...seen]).toEqual(['c']);
  });
});

describe('scorer', () => {
  it('ranks a matrix exactly as it scores records, aging biases to the clock', () => {
    const model = new OnlineModel({ ...params, dimensions: 2 });
    const rows = [
      { id: 'a', bias: 1, ts: 0, vec: [0.5, 0] },
      { id: 'b', bias: 0.2, ts: 0, vec: [1, 1] },
      { id: 'c', bias: 2, ts: -7 * 86_400_000 * 3, vec: [0, 0] },
      { id: 'd', bias: 0.9, ts: 0, vec: [0, 0.4] },
    ];
    const matrix: ItemMatrix = {
      size: rows.length,
      dimensions: 2,
      ids: rows.map((r) => r.id),
      vectors: Float32Array.from(rows.flatMap((r) => r.vec)),
      bias: Float64Array.from(rows.map((r) => r.bias)),
      ts: Float64Array.from(rows.map((r) => r.ts)),
    };
    const user = Float32Array.from([0.5, 1]);
    const scorer = new Scorer(model.params);
    const scores = rows.map((r) => ({
      id: r.id,
      score: model.score({ ts: 0, count: 1, vec: user }, { ts: r.ts, bias: r.bias, views: 0, clicks: 0, vec: Float32Array.from(r.vec) }, 0),
    }));
    expect(scores.find((s) => s.id === 'c')?.score).toBeCloseTo(0.25, 6);
    const expected = [...scores].sort((x, y) => y.score - x.score);
    const ranked = scorer.rank(user, matrix, 0, 4, new Set());
    expect(ranked.map((s) => s.id)).toEqual(expected.map((s) => s.id));
    ranked.forEach((s, i) => expect(s.score).toBeCloseTo(expected[i]!.score, 6));
    expect(scorer.rank(user, matrix, 0, 2, new Set(['b'])).map((s) => s.id)).toEqual(['d', 'a']);
    expect(scorer.rank(user, matrix, 0, 2, new Set(), [0, 2]).map((s) => s.id)).toEqual(['a', 'c']);
  });
});

describe('update rules', () => {
  it('isgd moves the user towards a clicked item without negatives or biases', () => {
    const model = new OnlineModel({ ...params, update: 'isgd' });
    const plan = model.plan([{ type: 'click', userId: 'u', itemId: 'i', ts: 1 }]);
    const effects = model.apply(plan, state());
    const user = effects.users.get('u')!;
    const item = effects.items.get('i')!;
    expect(item.bias).toBe(0);
    const start = model.newItem('i', 1).vec;
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, f) => s + x * (b[f] as number), 0);
    expect(dot(user.vec, item.vec)).toBeGreaterThan(dot(user.vec, start) - 1e-9);
  });
});

describe('model file', () => {
  it('pipelines/model.yaml states the documented defaults', () => {
    expect(loadModelParams(PIPELINES)).toEqual(DEFAULT_MODEL_PARAMS);
  });

  it('reads the update rule, history weight and negatives, and rejects an unknown rule', () => {
    const file = new YamlFile(
      'm.yaml',
      'model:\n  update: isgd\n  historyWeight: 0\n  negatives:\n    uniformShare: 0.25\n    realWeight: 2\n',
    );
    const parsed = parseModelFile(file);
    expect(parsed.update).toBe('isgd');
    expect(parsed.historyWeight).toBe(0);
    expect(parsed.negatives).toEqual({ ...DEFAULT_MODEL_PARAMS.negatives, uniformShare: 0.25, realWeight: 2 });
    let caught: unknown;
    try {
      parseModelFile(new YamlFile('m.yaml', 'model:\n  update: als\n'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FreshetError);
    expect((caught as FreshetError).code).toBe('pipeline_file_invalid');
    expect((caught as Error).message).toContain('bpr, isgd');
    expect(() => parseModelFile(new YamlFile('m.yaml', 'model:\n  negatives:\n    uniformShare: 2\n'))).toThrow(/from 0 to 1/);
  });
});
