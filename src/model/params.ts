import type { NegativeOptions } from './negatives.ts';
import type { InteractionType } from '../events/schema.ts';

/** Hyperparameters of the online model; defaults and units are documented in pipelines/model.yaml. */
export type UpdateRule = 'bpr' | 'isgd';

export interface ModelParams {
  /** `bpr`: pairs against real or sampled negatives; `isgd`: pointwise towards 1, no negatives. */
  update: UpdateRule;
  dimensions: number;
  learningRate: number;
  biasLearningRate: number;
  regularization: number;
  biasRegularization: number;
  /** Spread of starting vectors: uniform in [-initScale, initScale]. */
  initScale: number;
  seed: number;
  /**
   * Learning weight per event type. Positive types (click, push_open) pull the
   * item up; a view without a click in the same batch pushes it down with the
   * view weight; a weight of 0 leaves the model untouched.
   */
  weights: Record<InteractionType, number>;
  /** Learning weight of a click replayed from a user's history (source `history`); 0 ignores them. */
  historyWeight: number;
  negatives: NegativeOptions;
  halfLifeMs: {
    /** Users' vectors shrink with this half-life between their events. */
    user: number;
    /** Items' biases shrink with this half-life between their events. */
    item: number;
    /** Decayed view and click counters (trending, decayed CTR). */
    trending: number;
  };
}

export const DEFAULT_MODEL_PARAMS: ModelParams = {
  update: 'bpr',
  dimensions: 32,
  learningRate: 0.1,
  biasLearningRate: 0.05,
  regularization: 0.01,
  biasRegularization: 0.01,
  initScale: 0.1,
  seed: 42,
  weights: { click: 1, push_open: 1, view: 0.2, push_sent: 0 },
  historyWeight: 1,
  negatives: { perPositive: 20, poolSize: 5000, uniformShare: 1, realWeight: 8, perBatch: 256 },
  halfLifeMs: { user: 30 * 86_400_000, item: 7 * 86_400_000, trending: 86_400_000 },
};
