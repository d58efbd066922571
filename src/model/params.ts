import type { InteractionType } from '../events/schema.ts';

/** Hyperparameters of the online model; defaults and units are documented in pipelines/model.yaml. */
export interface ModelParams {
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
  negatives: {
    /** Sampled negatives per positive event. */
    perPositive: number;
    /** Recent positive item ids kept for sampling, so that sampling follows popularity. */
    poolSize: number;
  };
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
  dimensions: 32,
  learningRate: 0.05,
  biasLearningRate: 0.05,
  regularization: 0.01,
  biasRegularization: 0.01,
  initScale: 0.1,
  seed: 42,
  weights: { click: 1, push_open: 1, view: 0.2, push_sent: 0 },
  negatives: { perPositive: 2, poolSize: 5000 },
  halfLifeMs: { user: 30 * 86_400_000, item: 7 * 86_400_000, trending: 86_400_000 },
};
