import type { InteractionEvent } from '../events/schema.ts';
import { decayFactor, decayRate } from './decay.ts';
import type { ModelParams } from './params.ts';
import { hash32, seededRandom } from './random.ts';
import { initialVector, type ItemRecord, type UserRecord } from './records.ts';

/** What one batch needs to read before it can be applied. */
export interface BatchPlan {
  events: readonly InteractionEvent[];
  /** Sampled negative item ids per event index (empty for non-positive events). */
  negatives: string[][];
  /** Views that a click of the same user on the same item in this batch turns into no-ops. */
  cancelled: boolean[];
  userIds: string[];
  itemIds: string[];
}

export interface StateSnapshot {
  users: Map<string, UserRecord>;
  items: Map<string, ItemRecord>;
}

/** Everything a batch changes; written by the state store in one transaction. */
export interface BatchEffects {
  users: Map<string, UserRecord>;
  items: Map<string, ItemRecord>;
  /** Exact all-time counts to add, per item. */
  counts: Map<string, { views: number; clicks: number }>;
  /** Items each user clicked in this batch. */
  clicked: Map<string, Set<string>>;
  /** New trending score per touched item: ln(decayed clicks) + rate * ts, comparable across items. */
  trending: Map<string, number>;
  /** Latest event time in the batch (ms). */
  clock: number;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let f = 0; f < a.length; f++) sum += (a[f] as number) * (b[f] as number);
  return sum;
}

/**
 * Incremental matrix factorization for implicit feedback: online BPR with an
 * item bias against negatives sampled in proportion to recent popularity, plus
 * pointwise pushes down for views without a click. Temporal decay is lazy: a
 * record is aged to the event's time when it is touched.
 *
 * Deterministic for a given seed and event order. The negative pool is process
 * state: two processes sample differently, which only changes noise.
 */
export class OnlineModel {
  readonly params: ModelParams;
  private readonly pool: string[] = [];
  private poolNext = 0;
  private readonly random: () => number;
  private readonly userRate: number;
  private readonly itemRate: number;
  readonly trendingRate: number;

  constructor(params: ModelParams) {
    this.params = params;
    this.random = seededRandom(hash32('negatives', params.seed));
    this.userRate = decayRate(params.halfLifeMs.user);
    this.itemRate = decayRate(params.halfLifeMs.item);
    this.trendingRate = decayRate(params.halfLifeMs.trending);
  }

  isPositive(event: InteractionEvent): boolean {
    return (event.type === 'click' || event.type === 'push_open') && this.params.weights[event.type] > 0;
  }

  plan(events: readonly InteractionEvent[]): BatchPlan {
    const users = new Set<string>();
    const items = new Set<string>();
    const positives = new Set<string>();
    const negatives: string[][] = [];

    for (const event of events) {
      users.add(event.userId);
      items.add(event.itemId);
      if (!this.isPositive(event)) {
        negatives.push([]);
        continue;
      }
      positives.add(`${event.userId}\u0000${event.itemId}`);
      const sampled = this.sampleNegatives(event.itemId);
      for (const id of sampled) items.add(id);
      negatives.push(sampled);
      this.remember(event.itemId);
    }

    const cancelled = events.map(
      (e) => e.type === 'view' && positives.has(`${e.userId}\u0000${e.itemId}`),
    );
    return { events, negatives, cancelled, userIds: [...users], itemIds: [...items] };
  }

  apply(plan: BatchPlan, snapshot: StateSnapshot): BatchEffects {
    const effects: BatchEffects = {
      users: new Map(),
      items: new Map(),
      counts: new Map(),
      clicked: new Map(),
      trending: new Map(),
      clock: 0,
    };

    plan.events.forEach((event, index) => {
      effects.clock = Math.max(effects.clock, event.ts);
      const item = this.touchItem(event.itemId, event.ts, snapshot, effects);
      this.count(event, item, effects);

      const weight = this.params.weights[event.type];
      if (weight <= 0 || plan.cancelled[index] === true) return;
      const user = this.touchUser(event.userId, event.ts, snapshot, effects);
      if (this.isPositive(event)) {
        user.count++;
        this.learnPositive(user, item, plan.negatives[index] ?? [], weight, event.ts, snapshot, effects);
      } else if (event.type === 'view') {
        user.count++;
        this.learnPointwise(user, item, 0, weight);
      }
    });

    for (const [id, item] of effects.items) {
      if (item.clicks > 0) effects.trending.set(id, Math.log(item.clicks) + this.trendingRate * item.ts);
    }
    return effects;
  }

  /** Preference score of a user for an item; a missing user scores by bias alone. */
  score(user: UserRecord | undefined, item: ItemRecord): number {
    return item.bias + (user === undefined ? 0 : dot(user.vec, item.vec));
  }

  private sampleNegatives(positive: string): string[] {
    const { perPositive } = this.params.negatives;
    const out: string[] = [];
    if (this.pool.length === 0) return out;
    for (let attempt = 0; out.length < perPositive && attempt < perPositive * 4; attempt++) {
      const id = this.pool[Math.floor(this.random() * this.pool.length)] as string;
      if (id !== positive) out.push(id);
    }
    return out;
  }

  private remember(itemId: string): void {
    if (this.pool.length < this.params.negatives.poolSize) {
      this.pool.push(itemId);
    } else if (this.params.negatives.poolSize > 0) {
      this.pool[this.poolNext] = itemId;
      this.poolNext = (this.poolNext + 1) % this.params.negatives.poolSize;
    }
  }

  private touchUser(id: string, ts: number, snapshot: StateSnapshot, effects: BatchEffects): UserRecord {
    let user = effects.users.get(id);
    if (user === undefined) {
      const stored = snapshot.users.get(id);
      user = stored === undefined
        ? { ts, count: 0, vec: this.startVector(`u:${id}`) }
        : { ts: stored.ts, count: stored.count, vec: Float32Array.from(stored.vec) };
      effects.users.set(id, user);
    }
    if (ts > user.ts) {
      const factor = decayFactor(this.userRate, user.ts, ts);
      for (let f = 0; f < user.vec.length; f++) user.vec[f] = (user.vec[f] as number) * factor;
      user.ts = ts;
    }
    return user;
  }

  private touchItem(id: string, ts: number, snapshot: StateSnapshot, effects: BatchEffects): ItemRecord {
    let item = effects.items.get(id);
    if (item === undefined) {
      const stored = snapshot.items.get(id);
      item = stored === undefined
        ? { ts, bias: 0, views: 0, clicks: 0, vec: this.startVector(`i:${id}`) }
        : { ...stored, vec: Float32Array.from(stored.vec) };
      effects.items.set(id, item);
    }
    if (ts > item.ts) {
      item.bias *= decayFactor(this.itemRate, item.ts, ts);
      const factor = decayFactor(this.trendingRate, item.ts, ts);
      item.views *= factor;
      item.clicks *= factor;
      item.ts = ts;
    }
    return item;
  }

  private startVector(key: string): Float32Array {
    const { dimensions, initScale, seed } = this.params;
    return initialVector(key, dimensions, initScale, seed);
  }

  /** Exact counters and decayed counters; a late event adds what is left of it at the item's time. */
  private count(event: InteractionEvent, item: ItemRecord, effects: BatchEffects): void {
    if (event.type !== 'view' && event.type !== 'click') return;
    const weight = decayFactor(this.trendingRate, event.ts, item.ts);
    let counts = effects.counts.get(event.itemId);
    if (counts === undefined) {
      counts = { views: 0, clicks: 0 };
      effects.counts.set(event.itemId, counts);
    }
    if (event.type === 'view') {
      counts.views++;
      item.views += weight;
      return;
    }
    counts.clicks++;
    item.clicks += weight;
    let clicked = effects.clicked.get(event.userId);
    if (clicked === undefined) {
      clicked = new Set();
      effects.clicked.set(event.userId, clicked);
    }
    clicked.add(event.itemId);
  }

  private learnPositive(
    user: UserRecord,
    item: ItemRecord,
    negatives: string[],
    weight: number,
    ts: number,
    snapshot: StateSnapshot,
    effects: BatchEffects,
  ): void {
    if (negatives.length === 0) {
      this.learnPointwise(user, item, 1, weight);
      return;
    }
    for (const negativeId of negatives) {
      this.learnPair(user, item, this.touchItem(negativeId, ts, snapshot, effects), weight);
    }
  }

  /** One BPR step: the positive item should outscore the negative one. */
  private learnPair(user: UserRecord, pos: ItemRecord, neg: ItemRecord, weight: number): void {
    const { learningRate: lr, regularization: reg, biasLearningRate: blr, biasRegularization: breg } = this.params;
    const p = user.vec;
    const qi = pos.vec;
    const qj = neg.vec;
    let x = pos.bias - neg.bias;
    for (let f = 0; f < p.length; f++) x += (p[f] as number) * ((qi[f] as number) - (qj[f] as number));
    const g = weight * sigmoid(-x);

    for (let f = 0; f < p.length; f++) {
      const pf = p[f] as number;
      const qif = qi[f] as number;
      const qjf = qj[f] as number;
      p[f] = pf + lr * (g * (qif - qjf) - reg * pf);
      qi[f] = qif + lr * (g * pf - reg * qif);
      qj[f] = qjf + lr * (-g * pf - reg * qjf);
    }
    pos.bias += blr * (g - breg * pos.bias);
    neg.bias += blr * (-g - breg * neg.bias);
  }

  /** One logistic step towards label 1 (clicked) or 0 (viewed, not clicked). */
  private learnPointwise(user: UserRecord, item: ItemRecord, label: 0 | 1, weight: number): void {
    const { learningRate: lr, regularization: reg, biasLearningRate: blr, biasRegularization: breg } = this.params;
    const p = user.vec;
    const q = item.vec;
    const g = weight * (label - sigmoid(item.bias + dot(p, q)));

    for (let f = 0; f < p.length; f++) {
      const pf = p[f] as number;
      const qf = q[f] as number;
      p[f] = pf + lr * (g * qf - reg * pf);
      q[f] = qf + lr * (g * pf - reg * qf);
    }
    item.bias += blr * (g - breg * item.bias);
  }
}
