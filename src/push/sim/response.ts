/**
 * The simulation's response model: how likely a user is to open a push of a
 * content. Fitted only on data the loop under test never sees: the MIND
 * impressions of the `fit` half of the users, and the Open Bandit random
 * policy's logs. Pure once fitted.
 *
 *   open(u, i) = min(0.95, r(u) · p(segment(u), i))
 *   p(s, i)    = (clicks(s, i) + K · ctr(i) · m(s)) / (shows(s, i) + K)
 *   ctr(i)     = (clicks(i) + K · ctr) / (shows(i) + K)
 *
 * segment(u): quintile of the user's MIND history length (how much they read);
 * m(s): the segment's clicks over its expected clicks at the items' CTRs;
 * r(u): a responsiveness drawn per user (by a hash of the id) from the Open
 * Bandit user segments' CTRs relative to the overall CTR, shrunk heavily
 * (their clicks are few). A user's usual push CTR is r(u) times the mean of
 * p(segment(u), i) over the candidate contents: what a push of an average
 * candidate gets.
 */
import type { MindImpression } from '../../sources/datasets.ts';
import { hash32 } from '../../model/random.ts';
import type { BanditImpression } from './data.ts';

/** Prior strength of the MIND CTRs, in impressions. */
const K = 20;
/** Prior strength of the Open Bandit segment CTRs, in impressions. */
const K_BANDIT = 500;
const SEGMENTS = 5;

export interface SimUser {
  id: string;
  /** Quintile of the history length, 0 (least read) to 4. */
  segment: number;
  /** Multiplier of the user's push CTRs. */
  responsiveness: number;
}

export interface ResponseModel {
  /** Probability that the user opens a push of the item. */
  open(user: SimUser, itemId: string): number;
  /** The user's usual push CTR: a push of an average candidate content. */
  usual(user: SimUser): number;
  user(id: string, historyLength: number): SimUser;
  /** Fitted numbers, for the report. */
  readonly summary: {
    ctr: number;
    segmentMultipliers: number[];
    banditSegments: number;
    responsiveness: [number, number];
  };
}

interface Counts {
  shows: number;
  clicks: number;
}

function quantileBounds(values: number[], parts: number): number[] {
  const sorted = values.slice().sort((a, b) => a - b);
  return Array.from(
    { length: parts - 1 },
    (_, k) => sorted[Math.floor(((k + 1) * sorted.length) / parts)] ?? 0,
  );
}

export function fitResponse(
  fit: readonly MindImpression[],
  candidates: ReadonlySet<string>,
  bandit: readonly BanditImpression[],
  salt: string,
): ResponseModel {
  const bounds = quantileBounds(
    [...new Map(fit.map((i) => [i.userId, i.history.length])).values()],
    SEGMENTS,
  );
  const segmentOf = (length: number) => bounds.filter((b) => length >= b).length;

  let shows = 0;
  let clicks = 0;
  const items = new Map<string, Counts>();
  const cells = new Map<string, Counts>();
  for (const imp of fit) {
    const s = segmentOf(imp.history.length);
    for (const { itemId, clicked } of imp.items) {
      shows++;
      if (clicked) clicks++;
      if (!candidates.has(itemId)) continue;
      for (const [map, key] of [
        [items, itemId],
        [cells, `${s}\u0000${itemId}`],
      ] as const) {
        const c = map.get(key) ?? { shows: 0, clicks: 0 };
        c.shows++;
        if (clicked) c.clicks++;
        map.set(key, c);
      }
    }
  }
  const ctr = clicks / shows;
  const itemCtr = (id: string) => {
    const c = items.get(id) ?? { shows: 0, clicks: 0 };
    return (c.clicks + K * ctr) / (c.shows + K);
  };

  const observed = new Array<number>(SEGMENTS).fill(0);
  const expected = new Array<number>(SEGMENTS).fill(0);
  for (const [key, c] of cells) {
    const [s, id] = key.split('\u0000') as [string, string];
    const k = Number(s);
    observed[k] = (observed[k] as number) + c.clicks;
    expected[k] = (expected[k] as number) + c.shows * itemCtr(id);
  }
  const multipliers = observed.map((o, s) =>
    (expected[s] as number) > 0 ? o / (expected[s] as number) : 1,
  );
  const p = (s: number, id: string) => {
    const c = cells.get(`${s}\u0000${id}`) ?? { shows: 0, clicks: 0 };
    return (c.clicks + K * itemCtr(id) * (multipliers[s] as number)) / (c.shows + K);
  };
  const usualBySegment = multipliers.map((_, s) => {
    let sum = 0;
    for (const id of candidates) sum += p(s, id);
    return candidates.size > 0 ? sum / candidates.size : 0;
  });

  // Responsiveness: Open Bandit segments, weighted by how often they appear.
  const segments = new Map<string, Counts>();
  let banditClicks = 0;
  for (const imp of bandit) {
    const c = segments.get(imp.segment) ?? { shows: 0, clicks: 0 };
    c.shows++;
    if (imp.clicked) {
      c.clicks++;
      banditClicks++;
    }
    segments.set(imp.segment, c);
  }
  const banditCtr = banditClicks / Math.max(1, bandit.length);
  const table = [...segments.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, c]) => ({
      weight: c.shows,
      r: banditCtr > 0 ? (c.clicks + K_BANDIT * banditCtr) / (c.shows + K_BANDIT) / banditCtr : 1,
    }));
  const total = table.reduce((sum, t) => sum + t.weight, 0);
  const responsivenessOf = (id: string) => {
    let point = (hash32(id, hash32(salt)) / 4294967296) * total;
    for (const t of table) {
      point -= t.weight;
      if (point < 0) return t.r;
    }
    return 1;
  };

  return {
    open: (user, id) => Math.min(0.95, user.responsiveness * p(user.segment, id)),
    usual: (user) => user.responsiveness * (usualBySegment[user.segment] as number),
    user: (id, historyLength) => ({
      id,
      segment: segmentOf(historyLength),
      responsiveness: responsivenessOf(id),
    }),
    summary: {
      ctr,
      segmentMultipliers: multipliers,
      banditSegments: table.length,
      responsiveness: [Math.min(...table.map((t) => t.r)), Math.max(...table.map((t) => t.r))],
    },
  };
}
