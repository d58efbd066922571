/**
 * The world the push loop runs in during the simulation: the `loop` half of
 * the MIND users, their events, and the contents published while they read.
 */
import type { ContentEvent, InteractionEvent } from '../../events/schema.ts';
import { HISTORY_SOURCE } from '../../model/online-mf.ts';
import { hash32, seededRandom } from '../../model/random.ts';
import { mindEvents, type MindImpression } from '../../sources/datasets.ts';
import { foldOf, type SimData } from './data.ts';
import { fitResponse, type ResponseModel, type SimUser } from './response.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface WorldOptions {
  /** Salt of the user split and of every draw. */
  salt: string;
  /** A candidate content needs this many impressions in the fit half. Default 20. */
  minFitShows?: number;
  /** Contents published in the first part of the data are not candidates: the model warms up. Default 1 day. */
  warmupMs?: number;
  /** Most past pushes a user has received before the replay. Default 30. */
  maxPastPushes?: number;
}

export interface SimWorld {
  /** First impression of the data. */
  start: number;
  /** Last impression, plus the default content lifetime. */
  end: number;
  /** Engine input, in time order: the loop half's history, last-seen views, past pushes and impressions. */
  events: InteractionEvent[];
  /** Candidate contents, published when they first appear in the impressions. */
  contents: ContentEvent[];
  users: Map<string, SimUser>;
  response: ResponseModel;
  counts: { fitUsers: number; loopUsers: number; fitImpressions: number; loopImpressions: number };
}

function firstShown(impressions: readonly MindImpression[]): Map<string, number> {
  const first = new Map<string, number>();
  for (const imp of impressions) {
    for (const { itemId } of imp.items) if (!first.has(itemId)) first.set(itemId, imp.ts);
  }
  return first;
}

export function buildWorld(data: SimData, options: WorldOptions): SimWorld {
  const { salt } = options;
  const impressions = data.impressions;
  const fit = impressions.filter((i) => foldOf(i.userId, salt) === 'fit');
  const loop = impressions.filter((i) => foldOf(i.userId, salt) === 'loop');
  const start = impressions[0]?.ts ?? 0;
  const last = impressions[impressions.length - 1]?.ts ?? 0;

  const fitShows = new Map<string, number>();
  for (const imp of fit) {
    for (const { itemId } of imp.items) fitShows.set(itemId, (fitShows.get(itemId) ?? 0) + 1);
  }
  const published = firstShown(impressions);
  const warmup = options.warmupMs ?? DAY;
  const contents: ContentEvent[] = [...published]
    .filter(
      ([id, ts]) => ts >= start + warmup && (fitShows.get(id) ?? 0) >= (options.minFitShows ?? 20),
    )
    .map(([itemId, publishedAt]) => ({ itemId, publishedAt }))
    .sort((a, b) => a.publishedAt - b.publishedAt || (a.itemId < b.itemId ? -1 : 1));
  const response = fitResponse(fit, new Set(contents.map((c) => c.itemId)), data.bandit, salt);

  const histories = new Map<string, string[]>();
  for (const imp of loop) if (!histories.has(imp.userId)) histories.set(imp.userId, imp.history);
  const users = new Map<string, SimUser>();
  const events: InteractionEvent[] = [];
  const maxPast = options.maxPastPushes ?? 30;
  for (const [userId, history] of histories) {
    const user = response.user(userId, history.length);
    users.set(userId, user);
    const random = seededRandom(hash32(userId, hash32(`${salt}/past`)));
    // Earlier clicks train the user's vector only (history source), a month before the replay.
    history.forEach((itemId, k) => {
      events.push({
        type: 'click',
        userId,
        itemId,
        ts: start - 30 * DAY + k,
        source: HISTORY_SOURCE,
        eventId: `sim:h:${userId}:${k}`,
      });
    });
    // Past pushes of an average candidate, answered at the user's usual push CTR.
    const past = Math.floor(random() * (maxPast + 1));
    for (let j = 0; j < past; j++) {
      const ts = start - 29 * DAY + j * 6 * HOUR;
      const base = { userId, itemId: `sim-past-${j % 10}`, campaignId: 'sim-past', source: 'sim' };
      events.push({ ...base, type: 'push_sent', ts, eventId: `sim:ps:${userId}:${j}` });
      if (random() < response.usual(user)) {
        events.push({
          ...base,
          type: 'push_open',
          ts: ts + 60_000,
          eventId: `sim:po:${userId}:${j}`,
        });
      }
    }
    // Last seen 1 to 14 days before the replay: known to the engine, most of them inactive.
    const seen = history[history.length - 1];
    if (seen !== undefined) {
      const ts = start - Math.floor((1 + random() * 13) * DAY);
      events.push({
        type: 'view',
        userId,
        itemId: seen,
        ts,
        source: 'sim',
        eventId: `sim:seen:${userId}`,
      });
    }
  }
  events.push(...mindEvents(loop));
  events.sort((a, b) => a.ts - b.ts);

  return {
    start,
    end: last + 4 * HOUR,
    events,
    contents,
    users,
    response,
    counts: {
      fitUsers: new Set(fit.map((i) => i.userId)).size,
      loopUsers: users.size,
      fitImpressions: fit.length,
      loopImpressions: loop.length,
    },
  };
}
