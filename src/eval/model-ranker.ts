import type { InteractionEvent } from '../events/schema.ts';
import { decayFactor } from '../model/decay.ts';
import { HISTORY_SOURCE, OnlineModel, type StateSnapshot } from '../model/online-mf.ts';
import type { ModelParams } from '../model/params.ts';
import { committedItem } from '../model/item-merge.ts';
import { hash32 } from '../model/random.ts';
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

/** How the stream is cut when the model is replayed as several engine processes would run it. */
export interface Partitioning {
  /** Engine processes; users are spread over them by a hash of their id, as Kafka keys them. */
  processes: number;
  /** Events per batch round: every process applies its share of a round to the state as it was before the round. */
  window: number;
}

/**
 * The online model exactly as `freshet run` drives it: each batch is planned,
 * applied to a snapshot of the state, and its effects merged back as the state
 * stores merge them; ranking uses the model's scorer, the one the serving path
 * calls. With a partitioning, events are held for a round of `window` events,
 * then each process (its own model and negative pool) applies its users' share
 * of the round against the state as it was before the round, and all the
 * changes are merged: what concurrent batches of several engines do.
 */
export class ModelRanker implements Ranker {
  readonly name: string;
  readonly role = 'model' as const;
  readonly params: string;
  readonly model: OnlineModel;
  private readonly models: OnlineModel[];
  private readonly window: number;
  private readonly pending: InteractionEvent[] = [];
  private readonly state: StateSnapshot = { users: new Map(), items: new Map() };
  private readonly matrix: GrowableItemMatrix;

  constructor(params: ModelParams, name = 'online model', partitioning?: Partitioning) {
    const processes = partitioning?.processes ?? 1;
    this.models = Array.from({ length: processes }, () => new OnlineModel(params));
    this.model = this.models[0] as OnlineModel;
    this.window = partitioning?.window ?? 1;
    this.name = name;
    const cut = partitioning === undefined ? '' : `; ${processes} process(es), rounds of ${this.window} events`;
    this.params = describeParams(params) + cut;
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
    this.pending.push(...events);
    if (this.pending.length >= this.window) this.round();
  }

  /** A user's earlier clicks, replayed as history clicks: they train vectors, not counters. */
  warm(userId: string, itemIds: readonly string[], ts: number): void {
    this.learn(itemIds.map((itemId) => ({ type: 'click', userId, itemId, ts, source: HISTORY_SOURCE })));
  }

  /** Every process applies its share of the held events to the same state, then all changes are merged. */
  private round(): void {
    const shares = this.models.map((): InteractionEvent[] => []);
    for (const event of this.pending) {
      const process = this.models.length === 1 ? 0 : hash32(event.userId, 0) % this.models.length;
      shares[process]?.push(event);
    }
    this.pending.length = 0;
    // apply() only reads the state, so every share sees it as it was before the round.
    const changes = this.models.flatMap((model, i) => {
      const share = shares[i] as InteractionEvent[];
      return share.length === 0 ? [] : [model.apply(model.plan(share), this.state)];
    });
    for (const effects of changes) {
      // A copy: the effects' vectors share the batch's slab.
      for (const [id, user] of effects.users) this.state.users.set(id, { ...user, vec: user.vec.slice() });
      for (const id of effects.items.keys()) {
        const item = committedItem(this.state.items.get(id), id, effects);
        this.state.items.set(id, item);
        this.matrix.upsert(id, item);
      }
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
