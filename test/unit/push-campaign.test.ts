import { describe, expect, it } from 'vitest';
import {
  beginStage,
  campaignId,
  campaignLift,
  completeStage,
  decideStage,
  hold,
  newCampaign,
  nextStep,
  organicHold,
  stop,
} from '../../src/push/campaign.ts';
import { pushParams } from '../../src/push/params.ts';

const MIN = 60_000;
const PUB = Date.UTC(2026, 2, 1, 8, 0);
const params = pushParams({ pilotSize: 100, budget: 1000 });
const RULE = { targetLift: 2.4, z: 2, expandFactor: 2 };
const content = { itemId: 'n1', publishedAt: PUB };

/** A campaign whose first stage sent 100 pushes at 12:00 with 5 expected clicks (variance 4). */
function observing(at = PUB + 30 * MIN) {
  const c = beginStage(newCampaign(content, at, params), at);
  return completeStage(c, at, 100, { expected: 5, variance: 4 }, params);
}

describe('push campaign state machine', () => {
  it('derives the same id from the content in every process, and dates from publication', () => {
    const c = newCampaign(content, PUB + 31 * MIN, params);
    expect(c.id).toBe(campaignId('n1', PUB));
    expect(c.id).toMatch(/^c[0-9a-f]{16}$/);
    expect(c).toMatchObject({
      state: 'waiting',
      eligibleAt: PUB + 30 * MIN,
      expiresAt: PUB + 240 * MIN,
      nextSize: 100,
      sends: 0,
      version: 0,
    });
    expect(newCampaign({ ...content, ttlSeconds: 3600 }, PUB, params).expiresAt).toBe(
      PUB + 60 * MIN,
    );
  });

  it('waits before eligibility and starts at it', () => {
    const c = newCampaign(content, PUB, params);
    expect(nextStep(c, PUB + 30 * MIN - 1)).toBe('wait');
    expect(nextStep(c, PUB + 30 * MIN)).toBe('start');
  });

  it('observes for the window and decides when it is over', () => {
    const c = observing();
    expect(c).toMatchObject({ state: 'observing', sends: 100 });
    expect(c.stages[0]).toMatchObject({
      n: 1,
      size: 100,
      sent: 100,
      expected: 5,
      variance: 4,
      observeUntil: PUB + 60 * MIN,
    });
    expect(nextStep(c, PUB + 60 * MIN - 1)).toBe('observe');
    expect(nextStep(c, PUB + 60 * MIN)).toBe('decide');
  });

  it('expires at the expiry time, even in the middle of a stage', () => {
    const c = { ...observing(PUB + 225 * MIN) };
    expect(nextStep(c, PUB + 240 * MIN - 1)).toBe('observe');
    expect(nextStep(c, PUB + 240 * MIN)).toBe('expire');
    expect(nextStep(newCampaign(content, PUB, params), PUB + 240 * MIN)).toBe('expire');
  });

  it('expands after a confirmed lift: the next stage has twice the recipients', () => {
    const decided = decideStage(observing(), PUB + 60 * MIN, 16, RULE);
    expect(decided).toMatchObject({ state: 'waiting', nextSize: 200, observed: 16, expected: 5 });
    expect(decided.decisions).toEqual([
      {
        at: PUB + 60 * MIN,
        stage: 1,
        action: 'expand',
        reason: 'interval_above_target',
        sent: 100,
        observed: 16,
        expected: 5,
        variance: 4,
        lift: 3.2,
        lower: 2.4,
        upper: 4,
        nextSize: 200,
      },
    ]);
    expect(nextStep(decided, PUB + 60 * MIN)).toBe('start');
    expect(beginStage(decided, PUB + 60 * MIN).stages[1]).toMatchObject({ n: 2, size: 200 });
  });

  it('resends the same size when the target is inside the interval', () => {
    const decided = decideStage(observing(), PUB + 60 * MIN, 8, RULE);
    expect(decided).toMatchObject({ state: 'waiting', nextSize: 100 });
    expect(decided.decisions[0]).toMatchObject({ action: 'resend', lower: 0.8, upper: 2.4 });
  });

  it('stops when the interval is below the target, and says so', () => {
    const decided = decideStage(observing(), PUB + 60 * MIN, 7, RULE);
    expect(decided).toMatchObject({ state: 'stopped', stopReason: 'interval_below_target' });
    expect(decided.decisions[0]).toMatchObject({
      action: 'stop',
      reason: 'interval_below_target',
      observed: 7,
    });
    expect(nextStep(decided, PUB + 61 * MIN)).toBe('done');
  });

  it('caps the next cohort by the budget, and stops when the budget is spent', () => {
    const small = pushParams({ pilotSize: 100, budget: 150 });
    let c = completeStage(
      beginStage(newCampaign(content, PUB, small), PUB),
      PUB,
      100,
      { expected: 5, variance: 4 },
      small,
    );
    c = decideStage(c, PUB + 30 * MIN, 16, RULE);
    expect(c).toMatchObject({ state: 'waiting', nextSize: 50 });
    c = completeStage(
      beginStage(c, PUB + 30 * MIN),
      PUB + 30 * MIN,
      50,
      { expected: 2.5, variance: 1 },
      small,
    );
    c = decideStage(c, PUB + 60 * MIN, 8, RULE);
    expect(c).toMatchObject({ state: 'stopped', stopReason: 'budget_spent', sends: 150 });
    expect(c.decisions[1]).toMatchObject({
      stage: 2,
      action: 'stop',
      reason: 'budget_spent',
      observed: 8,
      lift: 3.2,
    });
  });

  it('records a stop mid-stage with the opens counted so far', () => {
    const c = stop(
      observing(PUB + 225 * MIN),
      PUB + 240 * MIN,
      'expired',
      { sent: 100, observed: 6, expected: 5, variance: 4 },
      2,
    );
    expect(c).toMatchObject({ state: 'stopped', stopReason: 'expired', observed: 6, expected: 5 });
    expect(c.decisions).toEqual([
      {
        at: PUB + 240 * MIN,
        stage: 1,
        action: 'stop',
        reason: 'expired',
        sent: 100,
        observed: 6,
        expected: 5,
        variance: 4,
        lift: 1.2,
        lower: 0.4,
        upper: 2,
        nextSize: 0,
      },
    ]);
    expect(campaignLift(c)).toBe(1.2);
  });

  it('stops when no recipient could be claimed', () => {
    const c = completeStage(
      beginStage(newCampaign(content, PUB, params), PUB),
      PUB,
      0,
      { expected: 0, variance: 0 },
      params,
    );
    expect(c).toMatchObject({ state: 'stopped', stopReason: 'audience_exhausted', sends: 0 });
  });

  it('holds a content back until its organic CTR clears the threshold, recording it once', () => {
    const strict = pushParams({ minOrganicCtr: 0.05, minOrganicViews: 100 });
    const c = newCampaign(content, PUB, strict);
    expect(organicHold(c, { views: 99, clicks: 50 }, strict)).toBe(true);
    expect(organicHold(c, { views: 200, clicks: 9 }, strict)).toBe(true);
    expect(organicHold(c, { views: 200, clicks: 10 }, strict)).toBe(false);
    expect(organicHold(c, { views: 0, clicks: 0 }, params)).toBe(false);
    const held = hold(c, PUB + 30 * MIN, { views: 200, clicks: 9 });
    expect(held.decisions).toMatchObject([
      {
        action: 'hold',
        stage: 0,
        reason: 'organic_ctr_below_threshold (views 200, clicks 9, ctr 0.0450)',
      },
    ]);
    expect(hold(held, PUB + 40 * MIN, { views: 210, clicks: 9 })).toBe(held);
  });
});
