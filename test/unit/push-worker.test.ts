import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.ts';
import { OnlineModel } from '../../src/model/online-mf.ts';
import { campaignId } from '../../src/push/campaign.ts';
import { PushLoop } from '../../src/push/loop.ts';
import { MemoryPushStore } from '../../src/push/memory-store.ts';
import { createPushMetrics } from '../../src/push/metrics.ts';
import { pushParams, type PushParams } from '../../src/push/params.ts';
import { MemoryPushSink } from '../../src/push/sink.ts';
import { CampaignWorker, type CampaignWorkerOptions } from '../../src/push/worker.ts';
import { MemoryStateStore } from '../../src/state/memory.ts';
import { Feeder, MODEL_PARAMS, silent } from '../support/push.ts';

const MIN = 60_000;
const T = Date.UTC(2026, 2, 1, 8, 0);

async function setup(overrides: Partial<PushParams> = {}, ranking: Pick<CampaignWorkerOptions, 'rankKeep' | 'rankPage'> = {}) {
  const state = new MemoryStateStore();
  const push = new MemoryPushStore(state.push);
  const feeder = new Feeder(state);
  const users = await feeder.users(40, T);
  let clock = T;
  const sink = new MemoryPushSink();
  const worker = (owner: string, out = sink) =>
    new CampaignWorker({
      state,
      push,
      sink: out,
      owner,
      logger: silent,
      model: new OnlineModel(MODEL_PARAMS),
      params: pushParams({ pilotSize: 10, ...overrides }),
      now: () => clock,
      ...ranking,
    });
  return { state, push, feeder, users, sink, worker, at: (ms: number) => (clock = ms) };
}

describe('campaign worker', () => {
  it('creates the campaign at eligibility, sends the pilot, and expands on a confirmed lift', async () => {
    const { push, feeder, sink, worker, at } = await setup();
    const w = worker('w1');
    await feeder.publish('n1', T);
    at(T + 29 * MIN);
    await w.tick();
    expect(await push.list(10)).toEqual([]);

    at(T + 30 * MIN);
    await w.tick();
    const id = campaignId('n1', T);
    expect(sink.recent).toHaveLength(10);
    expect(new Set(sink.recent.map((r) => r.userId)).size).toBe(10);
    expect(sink.recent[0]).toMatchObject({
      campaignId: id,
      itemId: 'n1',
      stage: 1,
      ts: T + 30 * MIN,
    });
    // No push history yet: every recipient is expected at the prior CTR, 0.02.
    expect((await push.get(id))?.stages[0]).toMatchObject({
      n: 1,
      sent: 10,
      observeUntil: T + 60 * MIN,
    });
    expect((await push.get(id))?.stages[0]?.expected).toBeCloseTo(0.2, 12);

    const openers = new Set(sink.recent.slice(0, 3).map((r) => r.userId));
    await feeder.deliver(sink.recent, (r) => openers.has(r.userId), T + 31 * MIN);
    at(T + 60 * MIN);
    await w.tick();
    const c = await push.get(id);
    expect(c?.decisions[0]).toMatchObject({
      stage: 1,
      action: 'expand',
      sent: 10,
      observed: 3,
      nextSize: 20,
    });
    expect(c?.decisions[0]?.lift).toBeCloseTo(15, 9);
    expect(c).toMatchObject({ state: 'observing', sends: 30 });
    expect(sink.recent.filter((r) => r.stage === 2)).toHaveLength(20);
    expect(new Set(sink.recent.map((r) => r.userId)).size).toBe(30);
  });

  it.each([
    ['one ranking of every candidate', {}],
    ['rankings in pages of 3 that keep the stage size, then 4 times more', { rankKeep: 1, rankPage: 3 }],
  ])('never pushes a user twice inside the cap window, across campaigns and workers, with %s', async (_, ranking) => {
    const { push, feeder, users, worker, at } = await setup({ pilotSize: 15 }, ranking);
    const sinks = [new MemoryPushSink(), new MemoryPushSink()];
    const workers = [worker('w1', sinks[0]), worker('w2', sinks[1])];
    for (const item of ['n1', 'n2', 'n3', 'n4']) await feeder.publish(item, T);
    at(T + 30 * MIN);
    await Promise.all(workers.map((w) => w.tick()));
    const all = sinks.flatMap((s) => s.recent);
    expect(all).toHaveLength(40);
    expect(new Set(all.map((r) => r.userId)).size).toBe(40);
    expect(new Set(all.map((r) => r.userId))).toEqual(new Set(users));
    // Which campaign got whom depends on how the workers interleave; the totals do not.
    const campaigns = await push.list(10);
    expect(campaigns).toHaveLength(4);
    expect(campaigns.reduce((sum, c) => sum + c.sends, 0)).toBe(40);
    for (const c of campaigns) expect(c.sends).toBe((await push.recipients(c.id)).size);
  });

  it('ranks in pages and keeps only the head, and fills a stage past capped users as one full ranking does', async () => {
    const recipients = async (ranking: Pick<CampaignWorkerOptions, 'rankKeep' | 'rankPage'>) => {
      const { state, feeder, sink, worker, at } = await setup({ pilotSize: 15 }, ranking);
      // Each ranking reads the content's record with its openers' first, then the candidates' pages.
      const reads: Array<{ users: number; items: readonly string[] }> = [];
      const load = state.loadSnapshot.bind(state);
      state.loadSnapshot = (userIds, itemIds, readAt) => {
        reads.push({ users: userIds.length, items: itemIds });
        return load(userIds, itemIds, readAt);
      };
      await feeder.publish('n1', T);
      await feeder.publish('n2', T);
      at(T + 30 * MIN);
      await worker('w1').tick();
      const byItem = (item: string) => sink.recent.filter((r) => r.itemId === item).map((r) => r.userId);
      return { n1: byItem('n1'), n2: byItem('n2'), reads };
    };
    const full = await recipients({});
    const paged = await recipients({ rankKeep: 1, rankPage: 3 });
    expect(full.n1).toHaveLength(15);
    expect(full.n2).toHaveLength(15);
    expect(paged.n1).toEqual(full.n1);
    expect(paged.n2).toEqual(full.n2);
    // The campaign served second kept 15 users in its first ranking, some capped by the other
    // campaign: it ranked again.
    const rankings = paged.reads.filter((r) => r.items.length === 1).map((r) => r.items[0]);
    expect(new Set(rankings)).toEqual(new Set(['n1', 'n2']));
    expect(rankings.length).toBeGreaterThan(2);
    expect(Math.max(...paged.reads.filter((r) => r.items.length === 0).map((r) => r.users))).toBe(3);
    expect(full.reads.filter((r) => r.items.length === 0).map((r) => r.users)).toEqual([40, 40]);
  });

  it('excludes users who already clicked the content', async () => {
    const { push, feeder, sink, worker, at } = await setup({ pilotSize: 100 });
    await feeder.publish('i3', T);
    at(T + 30 * MIN);
    await worker('w1').tick();
    // Users i with i % 10 = 3 or (7i + 3) % 10 = 3 (i % 10 = 0) clicked i3: 8 of the 40.
    expect(sink.recent).toHaveLength(32);
    expect(sink.recent.every((r) => !['0', '3'].includes(r.userId.slice(-1)))).toBe(true);
    expect((await push.list(1))[0]?.stages[0]).toMatchObject({ size: 100, sent: 32 });
  });

  it('stops on expiry in the middle of a stage, with the opens seen so far', async () => {
    const { push, feeder, sink, worker, at } = await setup();
    await feeder.publish('n1', T, 45 * 60);
    at(T + 30 * MIN);
    const w = worker('w1');
    await w.tick();
    await feeder.deliver(sink.recent, (r) => r.userId === sink.recent[0]!.userId, T + 35 * MIN);
    at(T + 45 * MIN);
    await w.tick();
    const c = await push.get(campaignId('n1', T));
    expect(c).toMatchObject({ state: 'stopped', stopReason: 'expired', sends: 10, observed: 1 });
    expect(c?.decisions).toHaveLength(1);
    expect(c?.decisions[0]).toMatchObject({
      at: T + 45 * MIN,
      stage: 1,
      action: 'stop',
      reason: 'expired',
      sent: 10,
      observed: 1,
    });
    expect(c?.decisions[0]?.lift).toBeCloseTo(5, 9);
    expect(await push.live()).toEqual([]);
  });

  it('finds an eligible content behind more than a pass reads of newer, not yet eligible ones', async () => {
    const { push, feeder, worker, at } = await setup();
    await feeder.publish('first', T);
    // 1,200 contents published after it, none eligible 30 minutes after it.
    for (let n = 0; n < 1200; n++) await feeder.publish(`later${n}`, T + 10 * MIN + n);
    at(T + 30 * MIN);
    await worker('w1').tick();
    expect((await push.list(10)).map((c) => c.itemId)).toEqual(['first']);
  });

  it('deletes a stopped campaign once its retention is over, and does not create it again', async () => {
    const DAY = 24 * 60 * MIN;
    const { push, feeder, worker, at } = await setup({ retentionMs: DAY });
    await feeder.publish('n1', T, 45 * 60);
    const w = worker('w1');
    at(T + 30 * MIN);
    await w.tick();
    at(T + 45 * MIN);
    await w.tick();
    const id = campaignId('n1', T);
    expect((await push.get(id))?.state).toBe('stopped');
    // Created at T + 30 min: kept until a day after that.
    at(T + 30 * MIN + DAY);
    expect(await w.prune(true)).toBe(0);
    at(T + 30 * MIN + DAY + 1);
    // Its last change has not reached the analytics store.
    expect(await w.prune(true)).toBe(0);
    expect(await w.prune(false)).toBe(1);
    expect(await push.get(id)).toBeUndefined();
    expect(await push.recipients(id)).toEqual(new Map());
    await w.tick();
    expect(await push.list(10)).toEqual([]);
  });

  it('deletes stopped campaigns past their retention in each pass of the loop', async () => {
    const DAY = 24 * 60 * MIN;
    const { push, feeder, worker, at } = await setup({ retentionMs: DAY });
    await feeder.publish('n1', T, 45 * 60);
    const registry = new Registry();
    const loop = new PushLoop({
      worker: worker('w1'),
      store: push,
      analytics: undefined,
      metrics: createMetrics(registry, false),
      pushMetrics: createPushMetrics(registry),
      logger: silent,
      tickMs: 1000,
    });
    at(T + 30 * MIN);
    await loop.runOnce();
    at(T + 45 * MIN);
    await loop.runOnce();
    expect((await push.list(10)).map((c) => c.state)).toEqual(['stopped']);
    at(T + 31 * MIN + DAY);
    // No analytics store: nothing to wait for.
    await loop.runOnce();
    expect(await push.list(10)).toEqual([]);
  });
});
