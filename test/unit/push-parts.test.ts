import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { itemMinuteCounts } from '../../src/analytics/aggregate.ts';
import { decodeOutbox, encodeOutbox, userDayCounts } from '../../src/push/activity.ts';
import { AudienceSelection, centroid, cosine, orderAudience } from '../../src/push/audience.ts';
import { seededRandom } from '../../src/model/random.ts';
import { beginStage, completeStage, newCampaign } from '../../src/push/campaign.ts';
import { createPushMetrics, phaseOf, reportCampaigns } from '../../src/push/metrics.ts';
import { pushParams } from '../../src/push/params.ts';
import { pushTally, tallyArgs } from '../../src/push/tally.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { InteractionEvent } from '../../src/events/schema.ts';

const T = Date.UTC(2026, 2, 1, 9);
const ev = (
  type: InteractionEvent['type'],
  userId: string,
  ts: number,
  extra: Partial<InteractionEvent> = {},
): InteractionEvent => ({
  type,
  userId,
  itemId: 'n1',
  ts,
  ...extra,
});

describe('push tally', () => {
  it('counts sends and opens per user, openers per campaign, and latest activity (not sends, not history)', () => {
    const tally = pushTally([
      ev('push_sent', 'a', T),
      ev('push_open', 'a', T + 10, { campaignId: 'c1' }),
      ev('push_open', 'b', T + 20),
      ev('view', 'c', T + 30),
      ev('click', 'c', T + 5),
      ev('click', 'd', T + 40, { source: 'history' }),
      ev('push_sent', 'e', T + 50),
    ]);
    expect(tally?.users).toEqual(
      new Map([
        ['a', { sends: 1, opens: 1 }],
        ['b', { sends: 0, opens: 1 }],
        ['e', { sends: 1, opens: 0 }],
      ]),
    );
    expect(tally?.openers).toEqual(new Map([['c1', new Set(['a'])]]));
    expect(tally?.active).toEqual(
      new Map([
        ['a', T + 10],
        ['b', T + 20],
        ['c', T + 30],
      ]),
    );
    expect(tallyArgs(tally)).toEqual([
      3,
      'a',
      1,
      1,
      'b',
      0,
      1,
      'e',
      1,
      0,
      1,
      'c1',
      'a',
      3,
      'a',
      T + 10,
      'b',
      T + 20,
      'c',
      T + 30,
    ]);
  });

  it('is undefined for a batch with nothing to count', () => {
    expect(pushTally([])).toBeUndefined();
    expect(pushTally([ev('click', 'd', T, { source: 'history' })])).toBeUndefined();
    expect(tallyArgs(undefined)).toEqual([0, 0, 0]);
  });
});

describe('user activity rows', () => {
  it('counts views and clicks, and push opens, per user and UTC day', () => {
    const day = Date.UTC(2026, 2, 1) / 1000;
    expect(
      userDayCounts([
        ev('view', 'a', T),
        ev('click', 'a', T + 1),
        ev('push_open', 'a', T + 2),
        ev('push_sent', 'b', T),
        ev('view', 'a', T + 86_400_000),
        ev('click', 'c', T, { source: 'history' }),
      ]),
    ).toEqual([
      { day, userId: 'a', events: 2, pushOpens: 1 },
      { day: day + 86_400, userId: 'a', events: 1, pushOpens: 0 },
    ]);
  });

  it('counts item views and clicks per minute, rows in the order first seen', () => {
    const minute = Math.floor(T / 60_000) * 60;
    expect(
      itemMinuteCounts([
        ev('click', 'a', T + 60_000, { itemId: 'x' }),
        ev('view', 'a', T, { itemId: 'x' }),
        ev('view', 'b', T + 1, { itemId: 'y' }),
        ev('click', 'b', T + 2, { itemId: 'x' }),
        ev('push_open', 'b', T + 3, { itemId: 'x' }),
      ]),
    ).toEqual([
      { minute: minute + 60, itemId: 'x', views: 0, clicks: 1 },
      { minute, itemId: 'x', views: 1, clicks: 1 },
      { minute, itemId: 'y', views: 1, clicks: 0 },
    ]);
  });

  it('keeps the outbox value of a batch without users as it was, and round-trips one with users', () => {
    const rows = [{ minute: 60, itemId: 'i', views: 1, clicks: 0 }];
    const users = [{ day: 0, userId: 'a', events: 1, pushOpens: 0 }];
    expect(encodeOutbox({ batchId: 'b', rows })).toBe(JSON.stringify(rows));
    expect(decodeOutbox('b', JSON.stringify(rows))).toEqual({ batchId: 'b', rows });
    expect(decodeOutbox('b', encodeOutbox({ batchId: 'b', rows, users }))).toEqual({
      batchId: 'b',
      rows,
      users,
    });
  });
});

describe('audience order', () => {
  it('puts inactive users first, each group by preference, ties by id', () => {
    const day = 86_400_000;
    const entries = [
      { userId: 'active-high', lastActive: T - day, preference: 9 },
      { userId: 'inactive-low', lastActive: T - 5 * day, preference: 1 },
      { userId: 'inactive-high', lastActive: T - 3 * day, preference: 2 },
      { userId: 'inactive-tie', lastActive: T - 4 * day, preference: 1 },
      { userId: 'active-low', lastActive: T, preference: -1 },
    ];
    expect(orderAudience(entries, T, 3 * day)).toEqual([
      'inactive-high',
      'inactive-low',
      'inactive-tie',
      'active-high',
      'active-low',
    ]);
    expect(orderAudience(entries, T, 0).slice(0, 2)).toEqual(['active-high', 'inactive-high']);
  });

  it('selects the head of the order from a stream, holding at most twice the head', () => {
    const day = 86_400_000;
    const random = seededRandom(7);
    // Preferences on a coarse grid, so ties fall to the ids; a third of the users inactive.
    const entries = Array.from({ length: 500 }, (_, i) => ({
      userId: `u${Math.floor(random() * 1e6)}-${i}`,
      lastActive: T - (random() < 1 / 3 ? 5 : 1) * day,
      preference: Math.round(random() * 20) / 4,
    }));
    const full = orderAudience(entries, T, 3 * day);
    for (const limit of [1, 2, 7, 64, 250, 499, 500, 900]) {
      const selection = new AudienceSelection(limit, T, 3 * day);
      let held = 0;
      for (const entry of entries) {
        selection.offer(entry);
        held = Math.max(held, (selection as unknown as { entries: unknown[] }).entries.length);
      }
      expect(selection.ordered(), `limit ${limit}`).toEqual(full.slice(0, limit));
      expect(selection.offered).toBe(500);
      expect(held).toBeLessThan(2 * limit);
    }
    expect(() => new AudienceSelection(0, T, day)).toThrow(/limit must be a positive integer, not 0/);
  });

  it('ranks a preference that is not a number last in its group, in a total order', () => {
    const entries = [
      { userId: 'u0', lastActive: T, preference: 0 },
      { userId: 'u1', lastActive: T, preference: Number.NaN },
      { userId: 'u2', lastActive: T, preference: 1 },
      { userId: 'u3', lastActive: T, preference: Number.NEGATIVE_INFINITY },
    ];
    expect(orderAudience(entries, T, 86_400_000)).toEqual(['u2', 'u0', 'u1', 'u3']);
    const selection = new AudienceSelection(1, T, 86_400_000);
    for (const entry of entries) selection.offer(entry);
    expect(selection.ordered()).toEqual(['u2']);
  });

  it("measures lookalikes by cosine to the mean of the clickers' unit vectors", () => {
    const c = centroid([Float32Array.from([2, 0]), Float32Array.from([0, 3])]) as Float32Array;
    expect([...c]).toEqual([0.5, 0.5]);
    expect(cosine(Float32Array.from([1, 1]), c)).toBeCloseTo(1, 6);
    expect(cosine(Float32Array.from([1, -1]), c)).toBeCloseTo(0, 6);
    expect(cosine(Float32Array.from([0, 0]), c)).toBe(0);
    expect(centroid([])).toBeUndefined();
  });
});

describe('push metrics', () => {
  it('reports campaigns per phase and the lift pooled over each phase', async () => {
    const params = pushParams();
    const waiting = newCampaign({ itemId: 'a', publishedAt: T }, T, params);
    const pilot = beginStage(newCampaign({ itemId: 'b', publishedAt: T }, T, params), T);
    const observing = {
      ...completeStage(pilot, T, 100, { expected: 5, variance: 4 }, params),
      observed: 6,
      expected: 2,
    };
    const expanding = {
      ...beginStage({ ...observing, state: 'waiting' as const }, T),
      observed: 10,
      expected: 4,
    };
    const stopped = { ...waiting, state: 'stopped' as const };
    expect([waiting, pilot, observing, expanding, stopped].map(phaseOf)).toEqual([
      'scheduled',
      'pilot',
      'observing',
      'expanding',
      'stopped',
    ]);

    const metrics = createMetrics(new Registry(), false);
    reportCampaigns(metrics, [
      waiting,
      pilot,
      observing,
      expanding,
      { ...observing, observed: 0, expected: 2 },
    ]);
    const values = async (name: string) =>
      (await metrics.registry.getSingleMetric(name)?.get())?.values.map((v) => [
        v.labels.state,
        v.value,
      ]);
    expect(await values('freshet_campaigns')).toEqual([
      ['scheduled', 1],
      ['pilot', 1],
      ['observing', 2],
      ['expanding', 1],
      ['stopped', 0],
    ]);
    expect(await values('freshet_campaign_lift_ratio')).toEqual([
      ['scheduled', 0],
      ['pilot', 0],
      ['observing', 1.5],
      ['expanding', 2.5],
      ['stopped', 0],
    ]);
  });

  it('creates its counters once per registry', () => {
    const registry = new Registry();
    const first = createPushMetrics(registry);
    expect(createPushMetrics(registry).requests).toBe(first.requests);
  });
});
