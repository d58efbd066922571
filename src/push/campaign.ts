/**
 * The campaign state machine. Pure: every transition takes the time as a
 * parameter and returns a new record; the worker does the I/O around it.
 *
 *   waiting --(eligible, organic CTR ok)--> sending --(claimed, emitted)--> observing
 *   observing --(window over: expand | resend)--> sending
 *   any --(expired | budget spent | no audience | lift below target)--> stopped
 */
import { createHash } from 'node:crypto';
import type { ContentEvent } from '../events/schema.ts';
import { decide, liftInterval, type DecisionRule, type StageOutcome } from './decision.ts';
import type { PushParams } from './params.ts';
import type { CohortExpectation } from './stats.ts';

export type CampaignState = 'waiting' | 'sending' | 'observing' | 'stopped';
export const CAMPAIGN_STATES: readonly CampaignState[] = [
  'waiting',
  'sending',
  'observing',
  'stopped',
];

export type StopReason =
  'expired' | 'budget_spent' | 'audience_exhausted' | 'interval_below_target' | 'nothing_expected';

/** One cohort sent. `sent` and the expectation are fixed when the cohort is emitted. */
export interface Stage {
  n: number;
  /** Recipients asked for. */
  size: number;
  startedAt: number;
  /** Push requests emitted (claimed recipients). */
  sent: number;
  expected: number;
  variance: number;
  /** Opens are awaited until then; 0 while sending. */
  observeUntil: number;
}

/** A decision with the numbers it was made on. `stage` is 0 for decisions before any send. */
export interface Decision {
  at: number;
  stage: number;
  action: 'expand' | 'resend' | 'stop' | 'hold';
  reason: string;
  sent: number;
  observed: number;
  expected: number;
  variance: number;
  lift: number;
  lower: number;
  upper: number;
  nextSize: number;
}

export interface Campaign {
  id: string;
  itemId: string;
  publishedAt: number;
  eligibleAt: number;
  expiresAt: number;
  createdAt: number;
  updatedAt: number;
  state: CampaignState;
  stopReason?: StopReason;
  /** Size of the next cohort. */
  nextSize: number;
  budget: number;
  /** Pushes sent over all stages. */
  sends: number;
  /** Opens counted by decisions, and the expected clicks of the same stages. */
  observed: number;
  expected: number;
  stages: Stage[];
  decisions: Decision[];
  /** Bumped by every save; the store refuses a save over a newer version. */
  version: number;
}

/** The step a campaign needs at `now`. */
export type Step = 'expire' | 'wait' | 'start' | 'recover' | 'observe' | 'decide' | 'done';

/** Campaign ids are derived from the content, so that two workers create the same one. */
export function campaignId(itemId: string, publishedAt: number): string {
  return `c${createHash('sha256').update(`${itemId}\u0000${publishedAt}`).digest('hex').slice(0, 16)}`;
}

export function newCampaign(content: ContentEvent, now: number, params: PushParams): Campaign {
  const lifetime = content.ttlSeconds !== undefined ? content.ttlSeconds * 1000 : params.expiryMs;
  return {
    id: campaignId(content.itemId, content.publishedAt),
    itemId: content.itemId,
    publishedAt: content.publishedAt,
    eligibleAt: content.publishedAt + params.delayMs,
    expiresAt: content.publishedAt + lifetime,
    createdAt: now,
    updatedAt: now,
    state: 'waiting',
    nextSize: Math.min(params.pilotSize, params.budget),
    budget: params.budget,
    sends: 0,
    observed: 0,
    expected: 0,
    stages: [],
    decisions: [],
    version: 0,
  };
}

export function nextStep(c: Campaign, now: number): Step {
  if (c.state === 'stopped') return 'done';
  if (now >= c.expiresAt) return 'expire';
  if (c.state === 'sending') return 'recover';
  if (c.state === 'waiting') return now >= c.eligibleAt ? 'start' : 'wait';
  const stage = c.stages[c.stages.length - 1];
  return stage !== undefined && now >= stage.observeUntil ? 'decide' : 'observe';
}

/** True when a not yet started campaign must wait for its organic CTR. */
export function organicHold(
  c: Campaign,
  counts: { views: number; clicks: number },
  params: PushParams,
): boolean {
  if (c.stages.length > 0 || params.minOrganicCtr <= 0) return false;
  return (
    counts.views < params.minOrganicViews || counts.clicks / counts.views < params.minOrganicCtr
  );
}

function emptyNumbers() {
  return {
    sent: 0,
    observed: 0,
    expected: 0,
    variance: 0,
    lift: 0,
    lower: 0,
    upper: 0,
    nextSize: 0,
  };
}

/** Records that the campaign is held back by its organic CTR (once per hold). */
export function hold(
  c: Campaign,
  now: number,
  counts: { views: number; clicks: number },
): Campaign {
  const last = c.decisions[c.decisions.length - 1];
  if (last?.action === 'hold') return c;
  const ctr = counts.views > 0 ? counts.clicks / counts.views : 0;
  const decision: Decision = {
    ...emptyNumbers(),
    at: now,
    stage: 0,
    action: 'hold',
    reason: `organic_ctr_below_threshold (views ${counts.views}, clicks ${counts.clicks}, ctr ${ctr.toFixed(4)})`,
  };
  return { ...c, updatedAt: now, decisions: [...c.decisions, decision] };
}

/** A stage about to claim its recipients; saved before any claim so a crash can be recovered. */
export function beginStage(c: Campaign, now: number): Campaign {
  const stage: Stage = {
    n: c.stages.length + 1,
    size: Math.min(c.nextSize, c.budget - c.sends),
    startedAt: now,
    sent: 0,
    expected: 0,
    variance: 0,
    observeUntil: 0,
  };
  return { ...c, state: 'sending', updatedAt: now, stages: [...c.stages, stage] };
}

/** The stage's recipients are claimed and their requests emitted. No recipient at all stops the campaign. */
export function completeStage(
  c: Campaign,
  now: number,
  sent: number,
  expectation: CohortExpectation,
  params: PushParams,
): Campaign {
  const stages = c.stages.slice();
  const current = stages.pop();
  if (current === undefined || c.state !== 'sending') {
    throw new Error('completeStage needs a stage being sent');
  }
  const stage: Stage = {
    ...current,
    sent,
    ...expectation,
    observeUntil: now + params.observationMs,
  };
  const next: Campaign = {
    ...c,
    state: 'observing',
    updatedAt: now,
    sends: c.sends + sent,
    stages: [...stages, stage],
  };
  if (sent > 0) return next;
  return stop(next, now, 'audience_exhausted', { sent: 0, observed: 0, expected: 0, variance: 0 });
}

function outcomeOf(stage: Stage, observed: number): StageOutcome {
  return { sent: stage.sent, observed, expected: stage.expected, variance: stage.variance };
}

/** The decision after the observation window, from the opens of the stage's recipients. */
export function decideStage(
  c: Campaign,
  now: number,
  observed: number,
  rule: DecisionRule,
): Campaign {
  const stage = c.stages[c.stages.length - 1];
  if (stage === undefined || c.state !== 'observing') {
    throw new Error('decideStage needs a stage being observed');
  }
  const outcome = outcomeOf(stage, observed);
  const verdict = decide(outcome, stage.sent, rule);
  const counted = {
    ...c,
    updatedAt: now,
    observed: c.observed + observed,
    expected: c.expected + stage.expected,
  };
  const numbers = {
    at: now,
    stage: stage.n,
    ...outcome,
    lift: verdict.lift,
    lower: verdict.lower,
    upper: verdict.upper,
  };

  if (verdict.action === 'stop') {
    const decision: Decision = { ...numbers, action: 'stop', reason: verdict.reason, nextSize: 0 };
    return {
      ...counted,
      state: 'stopped',
      stopReason: verdict.reason as StopReason,
      decisions: [...c.decisions, decision],
    };
  }
  const nextSize = Math.min(verdict.nextSize, c.budget - c.sends);
  if (nextSize <= 0) {
    const decision: Decision = { ...numbers, action: 'stop', reason: 'budget_spent', nextSize: 0 };
    return {
      ...counted,
      state: 'stopped',
      stopReason: 'budget_spent',
      decisions: [...c.decisions, decision],
    };
  }
  const decision: Decision = {
    ...numbers,
    action: verdict.action,
    reason: verdict.reason,
    nextSize,
  };
  return { ...counted, state: 'waiting', nextSize, decisions: [...c.decisions, decision] };
}

/**
 * Stops the campaign. A stage in flight (observing, or sending when recovered) is closed with
 * what it has: its opens so far and the lift they give, so the record shows where it stood.
 */
export function stop(
  c: Campaign,
  now: number,
  reason: StopReason,
  inFlight?: StageOutcome,
  z = 0,
): Campaign {
  const stage =
    c.state === 'observing' || c.state === 'sending' ? c.stages[c.stages.length - 1] : undefined;
  const outcome =
    inFlight ?? (stage ? outcomeOf(stage, 0) : { sent: 0, observed: 0, expected: 0, variance: 0 });
  const interval = liftInterval(outcome, z);
  const decision: Decision = {
    at: now,
    stage: stage?.n ?? 0,
    action: 'stop',
    reason,
    ...outcome,
    ...interval,
    nextSize: 0,
  };
  const counted =
    stage === undefined
      ? {}
      : { observed: c.observed + outcome.observed, expected: c.expected + outcome.expected };
  return {
    ...c,
    ...counted,
    state: 'stopped',
    stopReason: reason,
    updatedAt: now,
    decisions: [...c.decisions, decision],
  };
}

/** Observed over expected clicks of the decided stages; 0 before any. */
export function campaignLift(c: Campaign): number {
  return c.expected > 0 ? c.observed / c.expected : 0;
}
