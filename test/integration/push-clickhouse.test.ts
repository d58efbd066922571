import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseSink } from '../../src/analytics/clickhouse.ts';
import { beginStage, completeStage, decideStage, newCampaign } from '../../src/push/campaign.ts';
import { PushAnalytics, pushSql, userDayLines, userDaySql } from '../../src/push/clickhouse.ts';
import { pushParams } from '../../src/push/params.ts';
import type { AnalyticsBatch } from '../../src/state/store.ts';
import { openChdb, type ChdbSession } from '../support/chdb.ts';
import { service, uniqueName } from '../support/services.ts';

const url = service('CLICKHOUSE_URL');
const chdb = await openChdb();

const day = (d: number) => Date.UTC(2019, 10, d) / 1000;
/**
 * Two weeks of activity (2019-11-04 and 2019-11-11 are Mondays):
 * a active both weeks and opens a push: active, not brought back (active the week before);
 * b silent in week 1, opens a push on Tue 12th, reads on Wed 13th: brought back;
 * c silent in week 1, opens a push on Thu 14th, reads nothing after: active, not brought back;
 * d silent in week 1, reads Mon 11th, opens a push Tue 12th, nothing after: not brought back;
 * e reads in week 2 only, no push: active, not brought back.
 */
const BATCHES: AnalyticsBatch[] = [
  {
    batchId: 'events/0/0-9',
    rows: [],
    users: [
      { day: day(5), userId: 'a', events: 3, pushOpens: 0 },
      { day: day(12), userId: 'a', events: 1, pushOpens: 1 },
      { day: day(12), userId: 'b', events: 0, pushOpens: 1 },
      { day: day(13), userId: 'b', events: 4, pushOpens: 0 },
    ],
  },
  {
    batchId: 'events/1/0-9',
    rows: [],
    users: [
      { day: day(14), userId: 'c', events: 0, pushOpens: 1 },
      { day: day(11), userId: 'd', events: 2, pushOpens: 0 },
      { day: day(12), userId: 'd', events: 0, pushOpens: 1 },
      { day: day(15), userId: 'e', events: 5, pushOpens: 0 },
    ],
  },
];
const WEEKS = [
  { week: '2019-11-04', active_users: 1, brought_back: 0 },
  { week: '2019-11-11', active_users: 5, brought_back: 1 },
];

function campaign() {
  const params = pushParams({ pilotSize: 100 });
  const pub = Date.UTC(2019, 10, 12, 8);
  let c = beginStage(
    newCampaign({ itemId: 'n1', publishedAt: pub }, pub + 1_800_000, params),
    pub + 1_800_000,
  );
  c = completeStage(c, pub + 1_800_000, 100, { expected: 5, variance: 4 }, params);
  return {
    ...decideStage(c, pub + 3_600_000, 16, { targetLift: 2.4, z: 2, expandFactor: 2 }),
    version: 3,
  };
}

describe.skipIf(url === undefined)('push analytics on ClickHouse 18.16', () => {
  let sink: ClickHouseSink;
  let analytics: PushAnalytics;
  let client: ClickHouseClient;

  beforeAll(async () => {
    const database = uniqueName('freshet_push');
    sink = new ClickHouseSink({ url: url as string, database, username: 'default', password: '' });
    await sink.migrate();
    client = createClient({ url: url as string });
    analytics = new PushAnalytics(client, database);
    await analytics.migrate();
    await analytics.migrate();
  });
  afterAll(async () => {
    await client.command({ query: `DROP DATABASE IF EXISTS ${sink.database}` });
    await client.close();
    await sink.close();
  });

  it('reports weekly active users and the users a push brought back, each batch counted once', async () => {
    await sink.write(BATCHES);
    await sink.write(BATCHES.slice(0, 1));
    const weeks = await analytics.weekly(Date.UTC(2019, 10, 4), Date.UTC(2019, 10, 18));
    expect(weeks).toEqual(
      WEEKS.map((w) => ({
        week: w.week,
        activeUsers: w.active_users,
        broughtBack: w.brought_back,
      })),
    );
    expect(await analytics.weekly(Date.UTC(2019, 10, 11), Date.UTC(2019, 10, 18))).toEqual([
      { week: '2019-11-11', activeUsers: 5, broughtBack: 1 },
    ]);
  });

  it('writes campaigns, stages and decisions, a record written twice once', async () => {
    const c = campaign();
    await analytics.writeCampaigns([c]);
    await analytics.writeCampaigns([c]);
    const result = await client.query({
      query: pushSql.decisions(sink.database, c.id),
      format: 'JSONEachRow',
    });
    const rows = (await result.json<Record<string, unknown>>()).map((r) => ({
      ...r,
      sent: Number(r.sent),
      observed: Number(r.observed),
      next_size: Number(r.next_size),
    }));
    expect(rows).toEqual([
      {
        stage: 1,
        action: 'expand',
        reason: 'interval_above_target',
        sent: 100,
        observed: 16,
        expected: 5,
        lift: 3.2,
        lower: 2.4,
        upper: 4,
        next_size: 200,
      },
    ]);
    const campaigns = await client.query({
      query: `SELECT campaign_id, state, sends, observed, lift, version FROM ${sink.database}.push_campaigns FINAL`,
      format: 'JSONEachRow',
    });
    expect(
      (await campaigns.json<Record<string, unknown>>()).map((r) => ({
        ...r,
        sends: Number(r.sends),
        observed: Number(r.observed),
        version: Number(r.version),
      })),
    ).toEqual([
      { campaign_id: c.id, state: 'waiting', sends: 100, observed: 16, lift: 3.2, version: 3 },
    ]);
  });

  it('refuses a campaign id that is not one', () => {
    expect(() => pushSql.decisions('db', "c'; DROP TABLE x")).toThrow(/not a campaign id/);
    expect(() => userDaySql.weekly('bad name', 0, 1)).toThrow(/CLICKHOUSE_DATABASE must match/);
  });
});

/** The same statements on a current release. */
describe.skipIf(chdb === undefined)('push analytics SQL on a current release (chdb)', () => {
  afterAll(() => chdb?.cleanup());

  it('creates the tables twice and computes the same weekly report', () => {
    const db = chdb as ChdbSession;
    db.query('CREATE DATABASE IF NOT EXISTS freshet_push_modern');
    for (let i = 0; i < 2; i++)
      for (const sql of [
        ...pushSql.create('freshet_push_modern'),
        ...userDaySql.create('freshet_push_modern'),
      ])
        db.query(sql);
    const insert = (batches: AnalyticsBatch[]) =>
      db.query(
        `INSERT INTO ${userDaySql.table('freshet_push_modern')} FORMAT JSONEachRow ${batches.map(userDayLines).join('')}`,
      );
    insert(BATCHES);
    insert(BATCHES.slice(0, 1));
    const rows = db
      .query(
        userDaySql.weekly('freshet_push_modern', Date.UTC(2019, 10, 4), Date.UTC(2019, 10, 18)),
        'JSONEachRow',
      )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      rows.map((r) => ({
        week: r.week,
        active_users: Number(r.active_users),
        brought_back: Number(r.brought_back),
      })),
    ).toEqual(WEEKS);
  });
});
