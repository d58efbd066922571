import type { InteractionEvent } from '../events/schema.ts';
import { decayRate } from '../model/decay.ts';
import { hash32, seededRandom } from '../model/random.ts';
import { TopK } from '../model/topk.ts';
import type { Ranker } from './types.ts';

/** Exponents above this are folded into the landmark so forward-decayed sums stay finite. */
const MAX_EXPONENT = 200;

/** Rows of items in order of first appearance, shared by the baselines' counter arrays. */
class ItemTable {
  readonly ids: string[] = [];
  private readonly rows = new Map<string, number>();

  row(id: string): number | undefined {
    return this.rows.get(id);
  }

  /** Row of an item, adding it when new; the caller grows its arrays to fit. */
  add(id: string): number {
    let row = this.rows.get(id);
    if (row === undefined) {
      row = this.ids.length;
      this.ids.push(id);
      this.rows.set(id, row);
    }
    return row;
  }
}

function grown(array: Float64Array<ArrayBuffer>, size: number): Float64Array<ArrayBuffer> {
  if (size <= array.length) return array;
  const next = new Float64Array(Math.max(size, array.length * 2));
  next.set(array);
  return next;
}

/** Top k rows by a score array, ties to the earlier row, skipping excluded ids. */
function topByScore(
  table: ItemTable,
  scores: Float64Array,
  k: number,
  exclude: ReadonlySet<string>,
): string[] {
  const top = new TopK(k);
  for (let row = 0; row < table.ids.length; row++) {
    const score = scores[row] as number;
    const id = table.ids[row] as string;
    if (score > top.threshold && !exclude.has(id)) top.push(id, score);
  }
  return top.result().map((s) => s.id);
}

function isClick(event: InteractionEvent): boolean {
  return event.type === 'click' || event.type === 'push_open';
}

/** Uniformly random items among those seen so far. */
export class RandomRanker implements Ranker {
  readonly name = 'random';
  readonly role = 'baseline' as const;
  readonly params: string;
  private readonly table = new ItemTable();
  private readonly random: () => number;

  constructor(seed: number) {
    this.params = `seed=${seed}`;
    this.random = seededRandom(hash32('random-baseline', seed));
  }

  recommend(_userId: string, k: number, exclude: ReadonlySet<string>): string[] {
    const ids = this.table.ids;
    const out = new Set<string>();
    const available = ids.length - exclude.size;
    for (let tries = 0; out.size < Math.min(k, available) && tries < k * 50; tries++) {
      const id = ids[Math.floor(this.random() * ids.length)] as string;
      if (!exclude.has(id)) out.add(id);
    }
    return [...out];
  }

  scoreCandidates(_userId: string, itemIds: readonly string[]): number[] {
    return itemIds.map(() => this.random());
  }

  learn(events: readonly InteractionEvent[]): void {
    for (const e of events) this.table.add(e.itemId);
  }
}

/** Most clicked items, each click counted with the weight `clickWeight` gives it. */
class ClickCountRanker implements Ranker {
  readonly role = 'baseline' as const;
  readonly name: string;
  readonly params: string;
  protected readonly table = new ItemTable();
  protected clicks = new Float64Array(1024);

  constructor(name: string, params: string) {
    this.name = name;
    this.params = params;
  }

  recommend(_userId: string, k: number, exclude: ReadonlySet<string>): string[] {
    return topByScore(this.table, this.clicks, k, exclude);
  }

  scoreCandidates(_userId: string, itemIds: readonly string[]): number[] {
    return itemIds.map((id) => {
      const row = this.table.row(id);
      return row === undefined ? 0 : (this.clicks[row] as number);
    });
  }

  learn(events: readonly InteractionEvent[]): void {
    for (const e of events) {
      const row = this.table.add(e.itemId);
      this.clicks = grown(this.clicks, row + 1);
      if (isClick(e)) this.clicks[row] = (this.clicks[row] as number) + this.clickWeight(e);
    }
  }

  protected clickWeight(_event: InteractionEvent): number {
    return 1;
  }
}

/** Most clicked items of all time. */
export class PopularityRanker extends ClickCountRanker {
  constructor() {
    super('popularity', 'all-time clicks');
  }
}

/**
 * Forward-decayed sums: a count added at time t weighs exp(rate * (t - landmark)), so the order
 * of the sums is the order of the decayed counts at any later time, and nothing is rescanned.
 */
class ForwardDecay {
  readonly rate: number;
  landmark: number | undefined;

  constructor(halfLifeMs: number) {
    this.rate = decayRate(halfLifeMs);
  }

  /** Weight of a count at `ts`; moves the landmark up (scaling `arrays`) when it grows large. */
  weight(ts: number, arrays: Float64Array[]): number {
    this.landmark ??= ts;
    let exponent = this.rate * (ts - this.landmark);
    if (exponent > MAX_EXPONENT) {
      const scale = Math.exp(-exponent);
      for (const array of arrays) {
        for (let i = 0; i < array.length; i++) array[i] = (array[i] as number) * scale;
      }
      this.landmark = ts;
      exponent = 0;
    }
    return Math.exp(exponent);
  }

  /** Factor that turns a forward-decayed sum into the decayed count at `ts`. */
  at(ts: number): number {
    return this.landmark === undefined ? 0 : Math.exp(-this.rate * (ts - this.landmark));
  }
}

function hours(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${ms / 3_600_000}h`;
}

/** Most clicked items with clicks decayed by a half-life in event time. */
export class DecayedPopularityRanker extends ClickCountRanker {
  private readonly decay: ForwardDecay;

  constructor(halfLifeMs: number) {
    super('decayed popularity', `half-life ${hours(halfLifeMs)}`);
    this.decay = new ForwardDecay(halfLifeMs);
  }

  protected override clickWeight(event: InteractionEvent): number {
    return this.decay.weight(event.ts, [this.clicks]);
  }
}

/**
 * Click-through rate with views and clicks decayed by a half-life, smoothed towards the decayed
 * global rate with the weight of `prior` views: (clicks + prior * global) / (views + prior).
 * Only meaningful where the data has views without clicks.
 */
export class SmoothedCtrRanker implements Ranker {
  readonly name = 'smoothed decayed CTR';
  readonly role = 'baseline' as const;
  readonly params: string;
  private readonly table = new ItemTable();
  private readonly decay: ForwardDecay;
  private readonly prior: number;
  private views = new Float64Array(1024);
  private clicks = new Float64Array(1024);
  /** Global sums in slots 0 (views) and 1 (clicks), forward-decayed like the rows. */
  private readonly total = new Float64Array(2);

  constructor(halfLifeMs: number, prior: number) {
    this.params = `half-life ${hours(halfLifeMs)}, prior ${prior} views`;
    this.decay = new ForwardDecay(halfLifeMs);
    this.prior = prior;
  }

  private ctr(row: number | undefined, ts: number, global: number): number {
    if (row === undefined) return global;
    const factor = this.decay.at(ts);
    const views = (this.views[row] as number) * factor;
    const clicks = (this.clicks[row] as number) * factor;
    return (clicks + this.prior * global) / (views + this.prior);
  }

  recommend(_userId: string, k: number, exclude: ReadonlySet<string>, ts: number): string[] {
    const global = this.global();
    const scores = new Float64Array(this.table.ids.length);
    for (let row = 0; row < scores.length; row++) scores[row] = this.ctr(row, ts, global);
    return topByScore(this.table, scores, k, exclude);
  }

  scoreCandidates(_userId: string, itemIds: readonly string[], ts: number): number[] {
    const global = this.global();
    return itemIds.map((id) => this.ctr(this.table.row(id), ts, global));
  }

  learn(events: readonly InteractionEvent[]): void {
    for (const e of events) {
      const row = this.table.add(e.itemId);
      this.views = grown(this.views, row + 1);
      this.clicks = grown(this.clicks, row + 1);
      const w = this.decay.weight(e.ts, [this.views, this.clicks, this.total]);
      if (e.type === 'view') {
        this.views[row] = (this.views[row] as number) + w;
        this.total[0] = (this.total[0] as number) + w;
      } else if (isClick(e)) {
        this.clicks[row] = (this.clicks[row] as number) + w;
        this.total[1] = (this.total[1] as number) + w;
      }
    }
  }

  private global(): number {
    const views = this.total[0] as number;
    return views > 0 ? (this.total[1] as number) / views : 0;
  }
}
