/**
 * Runs one strategy over the simulated world with the engine's own parts: the
 * batch processor, the online model and the in-process state, the push store
 * and cap, and (for the loop) the campaign worker. Every push request is
 * answered by the response model: push_sent at once, push_open a few minutes
 * later with the model's probability, both fed back as events.
 */
import { pino } from 'pino';
import type { InteractionEvent } from '../../events/schema.ts';
import { createMetrics } from '../../metrics.ts';
import { OnlineModel } from '../../model/online-mf.ts';
import type { ModelParams } from '../../model/params.ts';
import { hash32, seededRandom } from '../../model/random.ts';
import { BatchProcessor } from '../../pipeline/processor.ts';
import { MemoryStateStore } from '../../state/memory.ts';
import { MemoryPushStore } from '../memory-store.ts';
import type { PushParams } from '../params.ts';
import { MemoryPushSink, type PushRequest } from '../sink.ts';
import { globalCtr, smoothedCtr } from '../stats.ts';
import type { SimWorld } from './world.ts';

export interface Strategy {
  tick(now: number): Promise<void>;
}

/** What a strategy is built from. */
export interface SimContext {
  state: MemoryStateStore;
  push: MemoryPushStore;
  model: OnlineModel;
  sink: MemoryPushSink;
  params: PushParams;
  /** Draws of the strategy itself (random audiences). */
  random: () => number;
}

export interface SimOutcome {
  sends: number;
  clicks: number;
  /** Σ over recipients of their smoothed usual push CTR at send time, as the loop computes it. */
  expectedClicks: number;
  /** Sends per content. */
  perItem: Map<string, number>;
  /** Expected and actual clicks of each send, in send order. */
  trace: Array<{ expected: number; clicked: boolean }>;
}

/** The first send from which the cumulative lift stays at or above `target` to the end; undefined if never. */
export function sendsToHold(trace: SimOutcome['trace'], target: number): number | undefined {
  let expected = 0;
  let clicks = 0;
  let since: number | undefined;
  trace.forEach((t, i) => {
    expected += t.expected;
    if (t.clicked) clicks++;
    const holds = expected > 0 && clicks / expected >= target;
    if (!holds) since = undefined;
    else since ??= i + 1;
  });
  return since;
}

export interface RunOptions {
  params: PushParams;
  model: ModelParams;
  /** Simulated time between passes of the strategy. */
  tickMs: number;
  salt: string;
}

const CHUNK = 5000;

export async function runStrategy(
  world: SimWorld,
  options: RunOptions,
  build: (context: SimContext) => Strategy,
): Promise<SimOutcome> {
  const { params, salt } = options;
  const state = new MemoryStateStore();
  const push = new MemoryPushStore(state.push);
  const model = new OnlineModel(options.model);
  const processor = new BatchProcessor({
    store: state,
    model,
    deadLetters: { send: async () => {} },
    metrics: createMetrics(undefined, false),
    logger: pino({ level: 'silent' }),
    group: 'sim',
    maxEvents: CHUNK,
    analytics: false,
    maxFutureMs: 365 * 86_400_000,
    contentsTopic: 'contents',
    now: () => world.end,
  });
  const offsets = { events: 0, contents: 0 };
  const feed = async (topic: 'events' | 'contents', values: readonly unknown[]) => {
    for (let i = 0; i < values.length; i += CHUNK) {
      const slice = values.slice(i, i + CHUNK);
      const first = offsets[topic];
      offsets[topic] += slice.length;
      const messages = slice.map((v, k) => ({
        offset: String(first + k),
        key: null,
        value: Buffer.from(JSON.stringify(v)),
      }));
      await processor.process({ topic, partition: 0, messages });
    }
  };

  const outcome: SimOutcome = {
    sends: 0,
    clicks: 0,
    expectedClicks: 0,
    perItem: new Map(),
    trace: [],
  };
  const answers = seededRandom(hash32(`${salt}/answers`));
  const pending: InteractionEvent[] = [];
  const answer = async (requests: readonly PushRequest[]) => {
    const [counts, totals] = await Promise.all([
      push.userCounts(requests.map((r) => r.userId)),
      push.totals(),
    ]);
    const g = globalCtr(totals, params.priorCtr);
    requests.forEach((r, i) => {
      const user = world.users.get(r.userId);
      if (user === undefined) throw new Error(`push to a user outside the simulation: ${r.userId}`);
      outcome.sends++;
      outcome.perItem.set(r.itemId, (outcome.perItem.get(r.itemId) ?? 0) + 1);
      const expected = smoothedCtr(counts[i] ?? { sends: 0, opens: 0 }, g, params.smoothing);
      outcome.expectedClicks += expected;
      const base = { userId: r.userId, itemId: r.itemId, campaignId: r.campaignId, source: 'push' };
      pending.push({ ...base, type: 'push_sent', ts: r.ts, eventId: `${r.requestId}/sent` });
      const clicked = answers() < world.response.open(user, r.itemId);
      outcome.trace.push({ expected, clicked });
      if (clicked) {
        outcome.clicks++;
        const delay = Math.floor((1 + answers() * 19) * 60_000);
        pending.push({
          ...base,
          type: 'push_open',
          ts: r.ts + delay,
          eventId: `${r.requestId}/open`,
        });
      }
    });
  };
  const sink = new MemoryPushSink({ capacity: 1, listener: answer });
  const strategy = build({
    state,
    push,
    model,
    sink,
    params,
    random: seededRandom(hash32(`${salt}/strategy`)),
  });

  const events = world.events;
  const contents = world.contents;
  let nextEvent = 0;
  let nextContent = 0;
  for (let clock = world.start; clock <= world.end; clock += options.tickMs) {
    const due: InteractionEvent[] = [];
    while (nextEvent < events.length && (events[nextEvent] as InteractionEvent).ts <= clock)
      due.push(events[nextEvent++] as InteractionEvent);
    pending.sort((a, b) => a.ts - b.ts);
    while (pending.length > 0 && (pending[0] as InteractionEvent).ts <= clock)
      due.push(pending.shift() as InteractionEvent);
    due.sort((a, b) => a.ts - b.ts);
    await feed('events', due);
    const published = [];
    while (nextContent < contents.length && contents[nextContent]!.publishedAt <= clock)
      published.push(contents[nextContent++]);
    if (published.length > 0) await feed('contents', published);
    await strategy.tick(clock);
  }
  return outcome;
}
