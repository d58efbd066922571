import { describe, expect, it } from 'vitest';
import type { InteractionEvent } from '../../src/events/schema.ts';
import { decayFactor, decayRate } from '../../src/model/decay.ts';
import { trendingScore } from '../../src/model/item-merge.ts';
import { OnlineModel, type StateSnapshot } from '../../src/model/online-mf.ts';
import { DEFAULT_MODEL_PARAMS, type ModelParams } from '../../src/model/params.ts';
import { seededRandom } from '../../src/model/random.ts';
import {
  clickedItems,
  decodeItem,
  decodeUser,
  encodeItem,
  encodeUser,
  initialVector,
  USER_CLICKED_FORMAT,
  USER_CLICKED_HEADER_BYTES,
  VectorSlab,
} from '../../src/model/records.ts';
import { TopK } from '../../src/model/topk.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';

const HOUR = 3_600_000;

function emptySnapshot(): StateSnapshot {
  return { users: new Map(), items: new Map() };
}

/** Applies batches in sequence, carrying the state forward as a store would. */
function train(model: OnlineModel, batches: InteractionEvent[][]): StateSnapshot {
  const state = emptySnapshot();
  for (const events of batches) {
    const effects = model.apply(model.plan(events), state);
    for (const [id, u] of effects.users) state.users.set(id, u);
    for (const [id, i] of effects.items) state.items.set(id, i);
  }
  return state;
}

describe('decay', () => {
  it('halves over one half-life and never grows for a negative age', () => {
    const rate = decayRate(HOUR);
    expect(decayFactor(rate, 0, HOUR)).toBeCloseTo(0.5, 12);
    expect(decayFactor(rate, 0, 3 * HOUR)).toBeCloseTo(0.125, 12);
    expect(decayFactor(rate, 5 * HOUR, HOUR)).toBe(1);
    expect(decayFactor(decayRate(0), 0, 100 * HOUR)).toBe(1);
  });
});

describe('top-k', () => {
  it('returns the k best of many, best first', () => {
    const random = seededRandom(7);
    const scores = Array.from({ length: 5000 }, (_, i) => ({ id: `i${i}`, score: random() }));
    const top = new TopK(10);
    for (const s of scores) top.push(s.id, s.score);
    const expected = [...scores].sort((a, b) => b.score - a.score).slice(0, 10);
    expect(top.result()).toEqual(expected);
  });

  it('keeps fewer than k when fewer arrive, and ignores NaN', () => {
    const top = new TopK(3);
    top.push('a', 1);
    top.push('b', Number.NaN);
    expect(top.result()).toEqual([{ id: 'a', score: 1 }]);
  });
});

describe('records', () => {
  it('round-trip through their binary form', () => {
    const vec = initialVector('x', 8, 0.1, 1);
    const user = { ts: 123, count: 4, vec };
    expect(decodeUser(encodeUser(user), 8)).toEqual(user);
    const item = { ts: 9, bias: -0.25, views: 3.5, clicks: 1.25, vec };
    expect(decodeItem(encodeItem(item), 8)).toEqual(item);
    expect(decodeItem(encodeItem(item), 16)).toBeUndefined();
  });

  it('decode into a shared slab as they do alone, each vector in its own region, from unaligned bytes too', () => {
    const slab = new VectorSlab(8, 2);
    const items = Array.from({ length: 5 }, (_, n) => ({ ts: n, bias: n / 4, views: n, clicks: 1, vec: initialVector(`i${n}`, 8, 0.1, 1) }));
    // Records side by side in one buffer at an odd offset, as a reply buffer may hold them.
    const packed = Buffer.concat([Buffer.from([7]), ...items.map(encodeItem)]);
    const size = encodeItem(items[0] as (typeof items)[number]).length;
    const decoded = items.map((_, n) => decodeItem(packed.subarray(1 + n * size, 1 + (n + 1) * size), 8, slab));
    expect(decoded).toEqual(items);
    const user = { ts: 1, count: 2, vec: initialVector('u', 8, 0.1, 1) };
    expect(decodeUser(encodeUser(user), 8, slab)).toEqual(user);
    (decoded[1]?.vec as Float32Array).fill(9);
    expect(decoded.map((r) => r?.vec[0] === 9)).toEqual([false, true, false, false, false]);
  });

  it("decode a user record followed by its clicked items, and only with the dimension written in them", () => {
    const user = { ts: 5, count: 3, vec: initialVector('u', 8, 0.1, 1) };
    const entry = (ts: number, id: string) => {
      const bytes = Buffer.from(id);
      const out = Buffer.alloc(10 + bytes.length);
      out.writeDoubleLE(ts, 0);
      out.writeUInt16LE(bytes.length, 8);
      bytes.copy(out, 10);
      return out;
    };
    const header = (dimensions: number, count: number, bytes: number) => {
      const out = Buffer.alloc(USER_CLICKED_HEADER_BYTES);
      out.writeUInt8(USER_CLICKED_FORMAT, 0);
      out.writeUInt16LE(dimensions, 1);
      out.writeUInt32LE(count, 3);
      out.writeUInt32LE(bytes, 7);
      return out;
    };
    const items = Buffer.concat([entry(30, 'ü-2'), entry(20, 'b'), entry(10, 'a')]);
    const value = Buffer.concat([encodeUser(user), header(8, 3, items.length), items]);
    expect(decodeUser(value, 8)).toEqual(user);
    expect(clickedItems(value, 8)).toEqual(['ü-2', 'b', 'a']);
    expect(clickedItems(value, 8, 2)).toEqual(['ü-2', 'b']);
    // The bare record has none; a value written with another dimension is no record of this one.
    expect(clickedItems(encodeUser(user), 8)).toBeUndefined();
    expect(decodeUser(Buffer.concat([encodeUser(user), header(4, 0, 0)]), 8)).toBeUndefined();
    expect(clickedItems(Buffer.concat([encodeUser(user), header(4, 0, 0)]), 8)).toBeUndefined();
    // Nor is a record of a larger dimension whose floats happen to start like a header here.
    const wide = encodeUser({ ts: 5, count: 3, vec: new Float32Array(16) });
    header(8, 0, 0).copy(wide, 48);
    expect(decodeUser(wide, 8)).toBeUndefined();
    expect(clickedItems(wide, 8)).toBeUndefined();
    // Nor a value whose stated length is not what follows.
    expect(decodeUser(Buffer.concat([encodeUser(user), header(8, 3, items.length + 1), items]), 8)).toBeUndefined();
  });

  it('start from the same vector for the same id and seed', () => {
    expect(initialVector('item-1', 16, 0.1, 42)).toEqual(initialVector('item-1', 16, 0.1, 42));
    expect(initialVector('item-1', 16, 0.1, 42)).not.toEqual(initialVector('item-2', 16, 0.1, 42));
  });
});

describe('online model', () => {
  const params: ModelParams = { ...DEFAULT_MODEL_PARAMS, dimensions: 8, learningRate: 0.1 };

  it('keeps a click among the clicked items with the user written, even at weight 0, and the store takes the batch', async () => {
    const model = new OnlineModel({ ...params, weights: { ...params.weights, click: 0 } });
    const events: InteractionEvent[] = [{ type: 'click', userId: 'z', itemId: 'i', ts: 5 }];
    const effects = model.apply(model.plan(events), { users: new Map(), items: new Map() });
    expect([...effects.clicked]).toEqual([['z', new Map([['i', 5]])]]);
    // Not learned from: the user's vector is its start, and nothing counted.
    expect(effects.users.get('z')?.count).toBe(0);
    const store = new MemoryStateStore();
    expect(await store.commit({ partition: 'g/t/0', expectedOffset: null, nextOffset: '1', effects, analytics: undefined })).toBe(true);
    expect(await store.getClicked('z')).toEqual(['i']);
  });

  it('learns two taste groups apart from clicks alone', () => {
    const model = new OnlineModel(params);
    const random = seededRandom(3);
    const batches: InteractionEvent[][] = [];
    let ts = 0;
    for (let b = 0; b < 60; b++) {
      const batch: InteractionEvent[] = [];
      for (let e = 0; e < 100; e++) {
        const group = random() < 0.5 ? 'a' : 'b';
        const user = `${group}${Math.floor(random() * 20)}`;
        const item = `${group}-item${Math.floor(random() * 10)}`;
        batch.push({ type: 'click', userId: user, itemId: item, ts: (ts += 1000) });
      }
      batches.push(batch);
    }
    const state = train(model, batches);

    let correct = 0;
    let total = 0;
    for (const [userId, user] of state.users) {
      const ranked = [...state.items]
        .map(([id, item]) => ({ id, score: model.score(user, item) }))
        .sort((x, y) => y.score - x.score)
        .slice(0, 10);
      correct += ranked.filter((s) => s.id.startsWith(userId[0] as string)).length;
      total += ranked.length;
    }
    expect(correct / total).toBeGreaterThan(0.9);
  });

  it('cancels a view clicked in the same batch, and counts both exactly', () => {
    const model = new OnlineModel(params);
    const events: InteractionEvent[] = [
      { type: 'view', userId: 'u', itemId: 'i', ts: 1000 },
      { type: 'click', userId: 'u', itemId: 'i', ts: 1000 },
      { type: 'view', userId: 'u', itemId: 'j', ts: 1000 },
    ];
    const plan = model.plan(events);
    expect(plan.cancelled).toEqual([true, false, false]);
    const effects = model.apply(plan, emptySnapshot());
    expect(effects.counts.get('i')).toEqual({ views: 1, clicks: 1 });
    expect(effects.counts.get('j')).toEqual({ views: 1, clicks: 0 });
    expect([...(effects.clicked.get('u') ?? [])]).toEqual([['i', 1000]]);
    expect(effects.users.get('u')?.count).toBe(2);
    expect(effects.clock).toBe(1000);
  });

  it('keeps the latest time of an item clicked twice in a batch, whatever their order', () => {
    const model = new OnlineModel(params);
    const events: InteractionEvent[] = [
      { type: 'click', userId: 'u', itemId: 'i', ts: 3000 },
      { type: 'click', userId: 'u', itemId: 'j', ts: 1000 },
      { type: 'click', userId: 'u', itemId: 'i', ts: 2000 },
      { type: 'click', userId: 'u', itemId: 'j', ts: 4000 },
      { type: 'click', userId: 'v', itemId: 'i', ts: 500 },
    ];
    const effects = model.apply(model.plan(events), emptySnapshot());
    expect(effects.clicked).toEqual(
      new Map([
        ['u', new Map([['i', 3000], ['j', 4000]])],
        ['v', new Map([['i', 500]])],
      ]),
    );
  });

  it('decays counters lazily in event time and weighs late events by their age', () => {
    const model = new OnlineModel({ ...params, halfLifeMs: { ...params.halfLifeMs, trending: HOUR } });
    const state = train(model, [
      [{ type: 'click', userId: 'u', itemId: 'i', ts: 0 }],
      [{ type: 'click', userId: 'u', itemId: 'i', ts: HOUR }],
    ]);
    expect(state.items.get('i')?.clicks).toBeCloseTo(1.5, 9);
    const late = model.apply(model.plan([{ type: 'click', userId: 'v', itemId: 'i', ts: 0 }]), state);
    const item = late.items.get('i');
    expect(item?.ts).toBe(HOUR);
    expect(item?.clicks).toBeCloseTo(2, 9);
    expect(trendingScore(item!, model.trendingRate)).toBeCloseTo(Math.log(2) + model.trendingRate * HOUR, 9);
  });

  it('shrinks a user vector by its half-life between its events', () => {
    const still = new OnlineModel({ ...params, learningRate: 0, biasLearningRate: 0 });
    const state = train(still, [[{ type: 'click', userId: 'u', itemId: 'i', ts: 0 }]]);
    const before = state.users.get('u')?.vec ?? new Float32Array();
    const halfLife = params.halfLifeMs.user;
    const effects = still.apply(still.plan([{ type: 'click', userId: 'u', itemId: 'z', ts: 2 * halfLife }]), state);
    const after = effects.users.get('u')?.vec ?? new Float32Array();
    after.forEach((x, f) => expect(x).toBeCloseTo((before[f] as number) * 0.25, 6));
    expect(effects.users.get('u')?.ts).toBe(2 * halfLife);
  });
});
