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

  it('ranks in pages, skips capped users and keeps only the head, choosing as one full ranking does', async () => {
    type Ranking = Pick<CampaignWorkerOptions, 'rankKeep' | 'rankPage'>;
    const run = async (ranking: Ranking, contents: string[], pilotSize: number) => {
      const { state, push, feeder, sink, worker, at } = await setup({ pilotSize }, ranking);
      // A ranking reads the content's record with its openers' first, then each page's caps and
      // the records of the uncapped.
      const reads: Array<{ users: number; items: readonly string[] }> = [];
      const caps: number[] = [];
      const load = state.loadSnapshot.bind(state);
      state.loadSnapshot = (userIds, itemIds, readAt) => {
        reads.push({ users: userIds.length, items: itemIds });
        return load(userIds, itemIds, readAt);
      };
      const holders = push.capHolders.bind(push);
      push.capHolders = (userIds, now) => {
        caps.push(userIds.length);
        return holders(userIds, now);
      };
      for (const item of contents) await feeder.publish(item, T);
      at(T + 30 * MIN);
      await worker('w1').tick();
      const sent = (item: string) => sink.recent.filter((r) => r.itemId === item).map((r) => r.userId);
      const rankings = reads.filter((r) => r.items.length === 1).map((r) => r.items[0]);
      const records = reads.filter((r) => r.items.length === 0).map((r) => r.users);
      return { sent, rankings, records, caps };
    };
    const paged = { rankKeep: 1, rankPage: 3 };

    // Two contents, 15 users each: the one served second skips the 15 the first one capped.
    const full = await run({}, ['n1', 'n2'], 15);
    const small = await run(paged, ['n1', 'n2'], 15);
    expect(full.sent('n1')).toHaveLength(15);
    expect(full.sent('n2')).toHaveLength(15);
    expect(small.sent('n1')).toEqual(full.sent('n1'));
    expect(small.sent('n2')).toEqual(full.sent('n2'));
    expect(full.records).toEqual([40, 25]);
    expect(Math.max(...small.records)).toBeLessThanOrEqual(3);
    expect(small.records.reduce((a, b) => a + b, 0)).toBe(65);
    // Caps are read for every candidate with each page of the ranking, and nowhere else.
    expect(full.caps).toEqual([40, 40]);
    expect(small.caps.reduce((a, b) => a + b, 0)).toBe(80);
    expect(Math.max(...small.caps)).toBe(3);

    // i3, which 8 of the 40 users clicked, so they rank high for it and are left out on the walk:
    // a head of 10 runs short, and the ranking is made again with 40.
    const fullClicked = await run({}, ['i3'], 10);
    const smallClicked = await run(paged, ['i3'], 10);
    expect(fullClicked.sent('i3')).toHaveLength(10);
    expect(smallClicked.sent('i3')).toEqual(fullClicked.sent('i3'));
    expect(fullClicked.rankings).toEqual(['i3']);
    expect(smallClicked.rankings).toEqual(['i3', 'i3']);
  });

  it('takes as lookalike seeds the openers who were sent the content or are active', async () => {
    const { state, feeder, sink, worker, at } = await setup({ pilotSize: 10, targetLift: 1 });
    const seedReads: string[][] = [];
    const load = state.loadSnapshot.bind(state);
    state.loadSnapshot = (userIds, itemIds, readAt) => {
      if (itemIds.length === 1) seedReads.push([...userIds].sort());
      return load(userIds, itemIds, readAt);
    };
    const w = worker('w1');
    await feeder.publish('n1', T);
    at(T + 30 * MIN);
    await w.tick();
    const pilot = sink.recent.slice();
    const openers = pilot.slice(0, 2).map((r) => r.userId);
    await feeder.deliver(pilot, (r) => openers.includes(r.userId), T + 31 * MIN);
    // Opens from users the campaign did not send to (a forwarded push, say): active, so seeds too.
    const strays = ['u001', 'u002', 'u003', 'u004', 'u005'].filter((u) => !pilot.some((r) => r.userId === u)).slice(0, 3);
    const campaign = (pilot[0] as { campaignId: string }).campaignId;
    await feeder.send('events', strays.map((userId) => ({ type: 'push_open', userId, itemId: 'n1', ts: T + 32 * MIN, campaignId: campaign })));
    at(T + 60 * MIN);
    await w.tick();
    expect(sink.recent.filter((r) => r.stage === 2).length).toBeGreaterThan(0);
    expect(seedReads.at(-1)).toEqual([...openers, ...strays].sort());
  });

  it('refuses ranking sizes that are not positive integers, naming the option', async () => {
    const { state, push } = await setup();
    const make = (ranking: Pick<CampaignWorkerOptions, 'rankKeep' | 'rankPage'>) =>
      new CampaignWorker({ state, push, sink: new MemoryPushSink(), owner: 'w', logger: silent, model: new OnlineModel(MODEL_PARAMS), params: pushParams({}), ...ranking });
    expect(() => make({ rankPage: 0 })).toThrow('rankPage must be a positive integer, not 0');
    expect(() => make({ rankPage: Number.NaN })).toThrow('rankPage must be a positive integer, not NaN');
    expect(() => make({ rankKeep: 2.5 })).toThrow('rankKeep must be a positive integer, not 2.5');
    expect(() => make({ rankKeep: Number.POSITIVE_INFINITY })).toThrow(/rankKeep must be a positive integer/);
    expect(() => make({ rankKeep: 1, rankPage: 1 })).not.toThrow();
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
