import { FreshetError } from '../errors.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Parameters of the push loop. Durations in milliseconds, event time. */
export interface PushParams {
  /** A content becomes a candidate this long after publication. Default 30 min. */
  delayMs: number;
  /** A campaign stops this long after publication (a content's own ttlSeconds wins). Default 4 h. */
  expiryMs: number;
  /** Recipients of the first stage. Default 100. */
  pilotSize: number;
  /** How long a stage's opens are awaited before its decision. Default 30 min. */
  observationMs: number;
  /** Lift the campaign must show. Default 2.4. */
  targetLift: number;
  /** Coverage of the lift's confidence interval. Default 0.9. */
  confidence: number;
  /** Next cohort = cohort × factor when the lift is confirmed. Default 2. */
  expandFactor: number;
  /** Most pushes one campaign may send. Default 50,000. */
  budget: number;
  /** A user gets at most one push in this window. Default 7 d. */
  capWindowMs: number;
  /** Pushes of evidence that weigh as much as the global CTR when smoothing a user's CTR. Default 20. */
  smoothing: number;
  /** Global push CTR assumed before any push was sent. Default 0.02. */
  priorCtr: number;
  /** Organic CTR a content needs before its campaign starts; 0 = no threshold. Default 0. */
  minOrganicCtr: number;
  /** Views the organic CTR needs before it is trusted. Default 50. */
  minOrganicViews: number;
  /** Users without activity for this long count as inactive and come first. Default 3 d. */
  inactiveAfterMs: number;
  /** Users without activity for this long are not in the audience any more. Default 90 d. */
  dormantAfterMs: number;
  /** Openers a content needs before its audience is ranked by lookalikes too. Default 3. */
  lookalikeMinClickers: number;
  /** Weight of the cosine similarity to the openers' centroid in the ranking score. Default 1. */
  lookalikeWeight: number;
  /**
   * A stopped campaign (record, recipients, openers) is deleted this long after it was created,
   * wall time; its rows in the analytics store stay. Longer than expiryMs. Default 30 d.
   */
  retentionMs: number;
}

export const DEFAULT_PUSH_PARAMS: PushParams = {
  delayMs: 30 * MINUTE,
  expiryMs: 4 * HOUR,
  pilotSize: 100,
  observationMs: 30 * MINUTE,
  targetLift: 2.4,
  confidence: 0.9,
  expandFactor: 2,
  budget: 50_000,
  capWindowMs: 7 * DAY,
  smoothing: 20,
  priorCtr: 0.02,
  minOrganicCtr: 0,
  minOrganicViews: 50,
  inactiveAfterMs: 3 * DAY,
  dormantAfterMs: 90 * DAY,
  lookalikeMinClickers: 3,
  lookalikeWeight: 1,
  retentionMs: 30 * DAY,
};

type Bounds = [min: number, max: number, integer?: boolean];

const BOUNDS: Record<keyof PushParams, Bounds> = {
  delayMs: [0, 30 * DAY, true],
  expiryMs: [MINUTE, 365 * DAY, true],
  pilotSize: [1, 10_000_000, true],
  observationMs: [1000, 30 * DAY, true],
  targetLift: [0, 1000],
  confidence: [0.5, 0.9999],
  expandFactor: [1, 100],
  budget: [1, 1_000_000_000, true],
  capWindowMs: [0, 365 * DAY, true],
  smoothing: [0, 1_000_000],
  priorCtr: [1e-6, 1],
  minOrganicCtr: [0, 1],
  minOrganicViews: [0, 1_000_000_000, true],
  inactiveAfterMs: [0, 365 * DAY, true],
  dormantAfterMs: [DAY, 10 * 365 * DAY, true],
  lookalikeMinClickers: [1, 1_000_000, true],
  lookalikeWeight: [0, 1000],
  retentionMs: [DAY, 10 * 365 * DAY, true],
};

/** `value` if it is within the parameter's bounds; throws otherwise, naming the parameter. */
export function checkedPushParam(key: keyof PushParams, value: unknown): number {
  const bounds = BOUNDS[key];
  if (bounds === undefined) {
    throw new FreshetError('config_invalid', `unknown push parameter "${key}"`, { field: key });
  }
  const [min, max, integer] = bounds;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    throw new FreshetError(
      'config_invalid',
      `push parameter ${key} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${value}`,
      { field: key },
    );
  }
  return value;
}

/**
 * Defaults overridden by `partial`; every value checked against its bounds, and against the
 * others. `names`: what a rule across parameters calls each (its environment variable, say).
 */
export function pushParams(
  partial: Partial<PushParams> = {},
  names: Partial<Record<keyof PushParams, string>> = {},
): PushParams {
  const params = { ...DEFAULT_PUSH_PARAMS };
  for (const [key, value] of Object.entries(partial) as Array<
    [keyof PushParams, number | undefined]
  >) {
    if (value !== undefined) params[key] = checkedPushParam(key, value);
  }
  // A campaign deleted while its content is still fresh would be created again.
  if (params.retentionMs <= params.expiryMs) {
    throw new FreshetError(
      'config_invalid',
      `${names.retentionMs ?? 'push parameter retentionMs'} must be longer than ${names.expiryMs ?? 'expiryMs'} (${params.expiryMs}), got ${params.retentionMs}`,
      { field: names.retentionMs ?? 'retentionMs' },
    );
  }
  return params;
}
