import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnlineModel } from '../../src/model/online-mf.ts';
import { campaignId } from '../../src/push/campaign.ts';
import { pushParams } from '../../src/push/params.ts';
import { RedisPushStore } from '../../src/push/redis-store.ts';
import { MemoryPushSink, type PushRequest } from '../../src/push/sink.ts';
import { CampaignWorker } from '../../src/push/worker.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import { service, uniqueName } from '../support/services.ts';
import { Feeder, MODEL_PARAMS, silent } from '../support/push.ts';

const url = service('REDIS_URL');
const MIN = 60_000;
const WEEK = 7 * 24 * 60 * MIN;

/** One engine process's share of the push loop: its own Redis connection, model, sink and clock. */
function engine(prefix: string, owner: string, clock: () => number) {
  const state = new RedisStateStore({
    url: url as string,
    prefix,
    dimensions: MODEL_PARAMS.dimensions,
  });
  const push = new RedisPushStore(state.client, prefix);
  const sink = new MemoryPushSink();
  const worker = new CampaignWorker({
    state,
    push,
    sink,
    owner,
    logger: silent,
    now: clock,
    model: new OnlineModel(MODEL_PARAMS),
    params: pushParams({ pilotSize: 40, capWindowMs: WEEK }),
  });
  return { state, push, sink, worker };
}

describe.skipIf(url === undefined)('push campaign workers on Redis', () => {
  const prefix = `${uniqueName('push')}:`;
  const T = Date.now() - 60 * MIN;
  let clock = T;
  let a: ReturnType<typeof engine>;
  let b: ReturnType<typeof engine>;
  let feeder: Feeder;
  let users: string[];

  beforeAll(async () => {
    a = engine(prefix, 'engine-a', () => clock);
    b = engine(prefix, 'engine-b', () => clock);
    feeder = new Feeder(a.state);
    users = await feeder.users(150, T);
  });
  afterAll(async () => {
    await a.state.close();
    await b.state.close();
  });

  it('never gives a user two pushes inside the window when two workers run campaigns on one audience', async () => {
    const items = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
    for (const item of items) await feeder.publish(item, T);
    clock = T + 30 * MIN;
    await Promise.all([a.worker.discover(clock), b.worker.discover(clock)]);
    const ids = items.map((item) => campaignId(item, T));
    expect((await a.push.live()).sort()).toEqual([...ids].sort());

    // Both engines step campaigns at once; every campaign wants the same best-ranked users.
    const seen: PushRequest[] = [];
    for (let round = 0; round < 3; round++) {
      await Promise.all(ids.map((id, i) => (i % 2 === 0 ? a : b).worker.advance(id, clock)));
      await Promise.all([a.worker.tick(), b.worker.tick()]);
      const fresh = [...a.sink.recent, ...b.sink.recent].slice(seen.length);
      seen.push(...fresh);
      // Half the recipients open: enough lift to expand.
      await feeder.deliver(fresh, (r) => r.userId.charCodeAt(3) % 2 === 0, clock + MIN);
      clock += 31 * MIN;
    }
    const requests = [...a.sink.recent, ...b.sink.recent];
    expect(a.sink.recent.length).toBeGreaterThan(0);
    expect(b.sink.recent.length).toBeGreaterThan(0);
    expect(requests.length).toBe(users.length);
    expect(new Set(requests.map((r) => r.userId)).size).toBe(requests.length);

    // Each user's cap is held by the campaign that pushed them, for the whole window.
    const holders = await a.push.capHolders(
      requests.map((r) => r.userId),
      clock,
    );
    expect(holders).toEqual(requests.map((r) => r.campaignId));
    const ttl = await a.state.client.pttl(`${prefix}push:cap:${requests[0]!.userId}`);
    expect(ttl).toBeGreaterThan(WEEK - 10 * MIN);

    let sends = 0;
    for (const id of ids) {
      const c = await a.push.get(id);
      sends += c?.sends ?? 0;
      expect(c?.sends).toBe((await a.push.recipients(id)).size);
    }
    expect(sends).toBe(users.length);
  });

  it('claims atomically: two stores racing for the same users each get a disjoint share', async () => {
    const pool = Array.from({ length: 400 }, (_, i) => `race${i}`);
    const now = Date.now();
    const [x, y] = await Promise.all([
      a.push.claim('cx0000000000000000', 1, pool, now, WEEK),
      b.push.claim('cy0000000000000000', 1, [...pool].reverse(), now, WEEK),
    ]);
    expect(x.length + y.length).toBe(pool.length);
    expect(new Set([...x, ...y]).size).toBe(pool.length);
  });

  it('stops a campaign whose content expires mid-stage, and the record says why', async () => {
    const start = clock;
    // A separate deployment (prefix), so that the caps taken above leave it an audience.
    const other = `${uniqueName('push')}:`;
    const fresh = engine(other, 'engine-c', () => clock);
    const feed = new Feeder(fresh.state);
    await feed.users(60, start);
    await feed.publish('short', start, 45 * 60);
    clock = start + 30 * MIN;
    await fresh.worker.tick();
    expect(fresh.sink.recent).toHaveLength(40);
    const opener = fresh.sink.recent[0]!.userId;
    await feed.deliver(fresh.sink.recent, (r) => r.userId === opener, start + 31 * MIN);

    clock = start + 45 * MIN;
    await fresh.worker.tick();
    const id = campaignId('short', start);
    const record = await new RedisPushStore(b.state.client, other).get(id);
    expect(record).toMatchObject({
      state: 'stopped',
      stopReason: 'expired',
      sends: 40,
      observed: 1,
    });
    expect(record?.stages).toHaveLength(1);
    expect(record?.stages[0]?.observeUntil).toBe(start + 60 * MIN);
    expect(record?.decisions).toEqual([
      expect.objectContaining({
        at: start + 45 * MIN,
        stage: 1,
        action: 'stop',
        reason: 'expired',
        sent: 40,
        observed: 1,
      }),
    ]);
    expect(record?.decisions[0]?.lift).toBeCloseTo(1 / (40 * 0.02), 9);
    expect(await fresh.push.live()).toEqual([]);
    await fresh.state.close();
  });
});
