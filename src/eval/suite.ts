import type { ModelParams } from '../model/params.ts';
import { DecayedPopularityRanker, PopularityRanker, RandomRanker, SmoothedCtrRanker } from './baselines.ts';
import type { EvalData } from './data.ts';
import { ModelRanker, type Partitioning } from './model-ranker.ts';
import { replayClicks, replayImpressions } from './prequential.ts';
import type { MetricName, Ranker, RowResult } from './types.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Baseline settings per data set, fixed in advance. Decayed popularity takes the half-life of the
 * issue's reference for MovieLens (30 days); for the news-like streams the best of 1 h, 6 h and
 * 1 day on the replay (generous to the baseline). The CTR baseline is the reference
 * (6-hour half-life) with a prior worth 10 views.
 */
const BASELINES = {
  movielens: { popularityHalfLife: 30 * DAY },
  mind: { popularityHalfLife: HOUR, ctrHalfLife: 6 * HOUR, ctrPrior: 10 },
  brunch: { popularityHalfLife: HOUR },
} as const;

export interface SuiteOptions {
  params: ModelParams;
  /** Seeds the model's sampling and the random baseline. */
  seed: number;
  /** Click streams: test every n-th eligible event. */
  every?: number;
  /** MIND: warm users with their history column. */
  history?: boolean;
  /** Also replay the model in rounds, as one process and as several (src/eval/model-ranker.ts). */
  partitioning?: Partitioning;
  /** Called before each row runs, e.g. for progress. */
  onRow?: (name: string) => void;
}

export interface EvalReport {
  dataset: string;
  metrics: MetricName[];
  rows: RowResult[];
}

/** The rankers of a data set: the model first, then the baselines. */
export function rankersFor(data: EvalData, params: ModelParams, seed: number, partitioning?: Partitioning): Ranker[] {
  const rankers: Ranker[] = [new ModelRanker({ ...params, seed })];
  if (partitioning !== undefined) {
    const { processes, window } = partitioning;
    rankers.push(new ModelRanker({ ...params, seed }, 'online model, 1 process', { processes: 1, window }));
    rankers.push(new ModelRanker({ ...params, seed }, `online model, ${processes} processes`, partitioning));
  }
  rankers.push(
    new RandomRanker(seed),
    new PopularityRanker(),
    new DecayedPopularityRanker(BASELINES[data.format].popularityHalfLife),
  );
  if (data.format === 'mind') {
    const { ctrHalfLife, ctrPrior } = BASELINES.mind;
    rankers.push(new SmoothedCtrRanker(ctrHalfLife, ctrPrior));
  }
  return rankers;
}

/** Replays the data set through every ranker, one after the other, test then train. */
export function evaluate(data: EvalData, opts: SuiteOptions): EvalReport {
  const rows: RowResult[] = [];
  for (const ranker of rankersFor(data, opts.params, opts.seed, opts.partitioning)) {
    opts.onRow?.(ranker.name);
    rows.push(
      data.kind === 'clicks'
        ? replayClicks(ranker, data.events, { every: opts.every })
        : replayImpressions(ranker, data.impressions, { history: opts.history, seed: opts.seed }),
    );
  }
  const metrics: MetricName[] = data.kind === 'clicks' ? ['recall@10', 'ndcg@10'] : ['auc', 'mrr', 'ndcg@10'];
  return { dataset: data.format, metrics, rows };
}
