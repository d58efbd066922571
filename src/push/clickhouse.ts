/**
 * The push loop in ClickHouse: campaigns, stages and decisions, daily user
 * activity, and the weekly report of active users and of the users a push
 * brought back. SQL for ClickHouse 18.16 and current releases (text builders,
 * shared with the tests); identifiers are validated, values travel as
 * JSONEachRow or as dates formatted here from numbers.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { AnalyticsBatch } from '../state/store.ts';
import { campaignLift, type Campaign } from './campaign.ts';
import type { PushStore } from './store.ts';
import { checkedDatabase } from '../analytics/identifiers.ts';


const checked = checkedDatabase;
const seconds = (ms: number) => Math.floor(ms / 1000);

/** `YYYY-MM-DD` of a UTC day given in epoch ms. */
export function isoDay(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`not a time: ${ms}`);
  return new Date(Math.floor(ms / 86_400_000) * 86_400_000).toISOString().slice(0, 10);
}

export const userDaySql = {
  create: (db: string) => [
    `CREATE TABLE IF NOT EXISTS ${checked(db)}.user_day (
      day Date,
      user_id String,
      events UInt64,
      push_opens UInt64,
      batch_id String
    ) ENGINE = ReplacingMergeTree()
    PARTITION BY toYYYYMM(day)
    ORDER BY (day, user_id, batch_id)`,
  ],
  table: (db: string) => `${checked(db)}.user_day`,
  /**
   * Per week (Monday to Sunday, UTC) from the week of `fromMs` to the week
   * before `toMs`: active users (a view, click or push open), and users brought
   * back: no activity at all the week before, a push opened this week, and a
   * view or click on or after the day of the first open.
   */
  weekly: (db: string, fromMs: number, toMs: number) => {
    const t = `${checked(db)}.user_day`;
    const from = `toMonday(toDate('${isoDay(fromMs)}'))`;
    const to = `toDate('${isoDay(toMs)}')`;
    return `SELECT toString(week) AS week, count() AS active_users, sum(back) AS brought_back FROM (
      SELECT week, user_id, (opens > 0 AND last_event >= first_open AND prev = 0) AS back FROM (
        SELECT toMonday(day) AS week, user_id, sum(push_opens) AS opens,
          minIf(day, push_opens > 0) AS first_open, maxIf(day, events > 0) AS last_event
        FROM ${t} FINAL
        WHERE day >= ${from} AND day < ${to}
        GROUP BY week, user_id
      ) AS current ANY LEFT JOIN (
        SELECT toMonday(day) + 7 AS week, user_id, toUInt8(1) AS prev
        FROM ${t} FINAL
        WHERE day >= ${from} - 7 AND day < ${to}
        GROUP BY week, user_id
      ) AS previous USING (week, user_id)
    ) GROUP BY week ORDER BY week`;
  },
};

/** One batch's rows of user_day as JSONEachRow lines, each ending in a newline ('' for none). */
export function userDayLines(batch: AnalyticsBatch): string {
  let text = '';
  let day = Number.NaN;
  let iso = '';
  for (const row of batch.users ?? []) {
    if (row.day !== day) [day, iso] = [row.day, isoDay(row.day * 1000)];
    text += `${JSON.stringify({ day: iso, user_id: row.userId, events: row.events, push_opens: row.pushOpens, batch_id: batch.batchId })}\n`;
  }
  return text;
}

export const pushSql = {
  create: (db: string) => [
    `CREATE TABLE IF NOT EXISTS ${checked(db)}.push_campaigns (
      campaign_id String, item_id String, state String, stop_reason String,
      published_at DateTime, eligible_at DateTime, expires_at DateTime,
      created_at DateTime, updated_at DateTime,
      stages UInt32, sends UInt64, observed UInt64, expected Float64, lift Float64,
      version UInt64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY campaign_id`,
    `CREATE TABLE IF NOT EXISTS ${checked(db)}.push_stages (
      campaign_id String, item_id String, stage UInt32, size UInt64, sent UInt64,
      started_at DateTime, observe_until DateTime, expected Float64, variance Float64,
      version UInt64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY (campaign_id, stage)`,
    `CREATE TABLE IF NOT EXISTS ${checked(db)}.push_decisions (
      campaign_id String, item_id String, seq UInt32, at DateTime, stage UInt32,
      action String, reason String, sent UInt64, observed UInt64,
      expected Float64, variance Float64, lift Float64, lower Float64, upper Float64,
      next_size UInt64
    ) ENGINE = ReplacingMergeTree() ORDER BY (campaign_id, seq)`,
  ],
  decisions: (db: string, campaignId: string) => {
    if (!/^c[0-9a-f]{16}$/.test(campaignId)) throw new Error(`not a campaign id: "${campaignId}"`);
    return `SELECT stage, action, reason, sent, observed, expected, lift, lower, upper, next_size
      FROM ${checked(db)}.push_decisions FINAL WHERE campaign_id = '${campaignId}' ORDER BY seq`;
  },
};

/** JSONEachRow rows of the three push tables for a campaign record. */
export function campaignRows(c: Campaign) {
  return {
    campaigns: [
      {
        campaign_id: c.id,
        item_id: c.itemId,
        state: c.state,
        stop_reason: c.stopReason ?? '',
        published_at: seconds(c.publishedAt),
        eligible_at: seconds(c.eligibleAt),
        expires_at: seconds(c.expiresAt),
        created_at: seconds(c.createdAt),
        updated_at: seconds(c.updatedAt),
        stages: c.stages.length,
        sends: c.sends,
        observed: c.observed,
        expected: c.expected,
        lift: campaignLift(c),
        version: c.version,
      },
    ],
    stages: c.stages.map((s) => ({
      campaign_id: c.id,
      item_id: c.itemId,
      stage: s.n,
      size: s.size,
      sent: s.sent,
      started_at: seconds(s.startedAt),
      observe_until: seconds(s.observeUntil),
      expected: s.expected,
      variance: s.variance,
      version: c.version,
    })),
    decisions: c.decisions.map((d, seq) => ({
      campaign_id: c.id,
      item_id: c.itemId,
      seq,
      at: seconds(d.at),
      stage: d.stage,
      action: d.action,
      reason: d.reason,
      sent: d.sent,
      observed: d.observed,
      expected: d.expected,
      variance: d.variance,
      lift: d.lift,
      lower: d.lower,
      upper: d.upper,
      next_size: d.nextSize,
    })),
  };
}

export interface WeekRow {
  /** Monday of the week, YYYY-MM-DD. */
  week: string;
  activeUsers: number;
  broughtBack: number;
}

/** Campaign records and the activity report in ClickHouse. */
export class PushAnalytics {
  private readonly client: ClickHouseClient;
  private readonly db: string;

  constructor(client: ClickHouseClient, database: string) {
    this.client = client;
    this.db = checked(database);
  }

  async migrate(): Promise<void> {
    for (const query of [...pushSql.create(this.db), ...userDaySql.create(this.db)]) {
      await this.client.command({ query });
    }
  }

  async writeCampaigns(campaigns: readonly Campaign[]): Promise<void> {
    const rows = campaigns.map(campaignRows);
    const tables: Array<[string, Array<Record<string, unknown>>]> = [
      ['push_campaigns', rows.flatMap((r) => r.campaigns)],
      ['push_stages', rows.flatMap((r) => r.stages)],
      ['push_decisions', rows.flatMap((r) => r.decisions)],
    ];
    for (const [table, values] of tables) {
      if (values.length > 0) {
        await this.client.insert({ table: `${this.db}.${table}`, values, format: 'JSONEachRow' });
      }
    }
  }

  /** Writes the campaigns changed since their last write; returns how many. Safe to repeat. */
  async flush(store: PushStore, limit = 200): Promise<number> {
    const dirty = await store.dirty(limit);
    const campaigns = (await Promise.all(dirty.map((d) => store.get(d.id)))).filter(
      (c): c is Campaign => c !== undefined,
    );
    await this.writeCampaigns(campaigns);
    for (const c of campaigns) await store.clean({ id: c.id, version: c.version });
    return campaigns.length;
  }

  async weekly(fromMs: number, toMs: number): Promise<WeekRow[]> {
    const result = await this.client.query({
      query: userDaySql.weekly(this.db, fromMs, toMs),
      format: 'JSONEachRow',
    });
    const rows = await result.json<{
      week: string;
      active_users: string | number;
      brought_back: string | number;
    }>();
    return rows.map((r) => ({
      week: r.week,
      activeUsers: Number(r.active_users),
      broughtBack: Number(r.brought_back),
    }));
  }
}
