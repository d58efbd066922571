import type { InteractionEvent } from '../events/schema.ts';
import { decayFactor } from '../model/decay.ts';
import { HISTORY_SOURCE, OnlineModel, type StateSnapshot } from '../model/online-mf.ts';
import type { ModelParams } from '../model/params.ts';
import type { ItemRecord, UserRecord } from '../model/records.ts';
import { TopK } from '../model/topk.ts';
import { GrowableItemMatrix } from '../model/item-matrix.ts';
import type { Ranker } from './types.ts';

/** Parameters worth showing in the table, in one line. */
export function describeParams(p: ModelParams): string {
  const h = (ms: number) => (ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${ms / 3_600_000}h`);
  const n = p.negatives;
  const rates = `lr=${p.learningRate} blr=${p.biasLearningRate} reg=${p.regularization}`;
  return [
    `${p.update} k=${p.dimensions} ${rates}`,
    `negatives ${n.perPositive} (uniform ${n.uniformShare}, real weight ${n.realWeight})`,
    `half-life user ${h(p.halfLifeMs.user)} item ${h(p.halfLifeMs.item)}`,
  ].join(', ');
}

/**
 * The online model exactly as `freshet run` drives it: each batch is planned,
 * applied to a snapshot of the state, and its effects written back; ranking
 * uses the model's scorer, the one the serving path calls.
 */
export class ModelRanker implements Ranker {
  readonly name: string;
  readonly role = 'model' as const;
  readonly params: string;
  readonly model: OnlineModel;
  private readonly state: StateSnapshot = { users: new Map(), items: new Map() };
  private readonly matrix: GrowableItemMatrix;

  constructor(params: ModelParams, name = 'online model') {
    this.model = new OnlineModel(params);
    this.name = name;
    this.params = describeParams(params);
    this.matrix = new GrowableItemMatrix(params.dimensions);
  }

  recommend(userId: string, k: number, exclude: ReadonlySet<string>, ts: number): string[] {
    const user = this.state.users.get(userId);
    if (user === undefined || user.count === 0) return this.trending(k, exclude, ts);
    return this.model.scorer.rank(user.vec, this.matrix, ts, k, exclude).map((s) => s.id);
  }

  scoreCandidates(userId: string, itemIds: readonly string[], ts: number): number[] {
    const user = this.state.users.get(userId);
    const vec = user === undefined || user.count === 0 ? undefined : user.vec;
    return itemIds.map((id) => {
      const item = this.state.items.get(id) ?? this.model.newItem(id, ts);
      return this.model.scorer.score(vec, item, ts);
    });
  }

  learn(events: readonly InteractionEvent[]): void {
    if (events.length === 0) return;
    const effects = this.model.apply(this.model.plan(events), this.state);
    this.commit(effects.users, effects.items);
  }

  /** A user's earlier clicks, replayed as history clicks: they train vectors, not counters. */
  warm(userId: string, itemIds: readonly string[], ts: number): void {
    this.learn(itemIds.map((itemId) => ({ type: 'click', userId, itemId, ts, source: HISTORY_SOURCE })));
  }

  private commit(users: Map<string, UserRecord>, items: Map<string, ItemRecord>): void {
    for (const [id, user] of users) this.state.users.set(id, user);
    for (const [id, item] of items) {
      this.state.items.set(id, item);
      this.matrix.upsert(id, item);
    }
  }

  /** What a user without history is served: decayed clicks, as the trending set ranks them. */
  private trending(k: number, exclude: ReadonlySet<string>, ts: number): string[] {
    const top = new TopK(k);
    for (const [id, item] of this.state.items) {
      if (item.clicks > 0 && !exclude.has(id)) {
        top.push(id, item.clicks * decayFactor(this.model.trendingRate, item.ts, ts));
      }
    }
    return top.result().map((s) => s.id);
  }
}
