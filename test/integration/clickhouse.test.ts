import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseSink } from '../../src/analytics/clickhouse.ts';
import { service, uniqueName } from '../support/services.ts';

const url = service('CLICKHOUSE_URL');

describe.skipIf(url === undefined)('clickhouse analytics sink', () => {
  let sink: ClickHouseSink;

  beforeAll(async () => {
    sink = new ClickHouseSink({ url: url as string, database: uniqueName('freshet_test'), username: 'default', password: '' });
    await sink.migrate();
    await sink.migrate();
  });
  afterAll(async () => {
    await sink.client.command({ query: `DROP DATABASE IF EXISTS ${sink.database}` });
    await sink.close();
  });

  it('counts a batch written twice only once', async () => {
    const minute = Date.UTC(1997, 8, 20, 12, 5) / 1000;
    const a = { batchId: 'events/0/0-9', rows: [{ minute, itemId: 'i1', views: 3, clicks: 1 }, { minute, itemId: 'i2', views: 1, clicks: 0 }] };
    const b = { batchId: 'events/1/0-4', rows: [{ minute: minute + 60, itemId: 'i1', views: 2, clicks: 2 }] };
    await sink.write([a, b]);
    await sink.write([a]);
    expect(Object.fromEntries(await sink.itemTotals())).toEqual({
      i1: { views: 5, clicks: 3 },
      i2: { views: 1, clicks: 0 },
    });
  });

  it('stores the minute as UTC event time', async () => {
    const result = await sink.client.query({
      query: `SELECT toString(minute, 'UTC') AS m FROM ${sink.database}.item_minute FINAL WHERE item_id = 'i2'`,
      format: 'JSONEachRow',
    });
    expect(await result.json()).toEqual([{ m: '1997-09-20 12:05:00' }]);
  });

  it('writes every row of many batches, item and user rows, with ids that need escaping', async () => {
    const minute = Date.UTC(2019, 9, 1, 0, 0) / 1000;
    const day = Date.UTC(2019, 9, 1) / 1000;
    const odd = ['q"uote', 'back\\slash', 'new\nline', 'tab\tbed', 'ünï 😀'];
    // Rows enough that the request body goes out in many chunks, a batch's lines at a time.
    const batches = Array.from({ length: 6 }, (_, b) => ({
      batchId: `events/2/${b * 100}-${b * 100 + 99}`,
      rows: b === 3 ? [] : Array.from({ length: 8_000 }, (_, i) => ({ minute, itemId: `s${i}`, views: 1 + b, clicks: i % 2 })),
      ...(b % 2 === 0 ? { users: Array.from({ length: 4_000 }, (_, i) => ({ day, userId: `u${i}`, events: 2, pushOpens: i % 4 === 0 ? 1 : 0 })) } : {}),
    }));
    batches[5]?.rows.push(...odd.map((itemId) => ({ minute, itemId, views: 7, clicks: 1 })));
    await sink.write(batches);
    const totals = await sink.itemTotals();
    // Batches 0, 1, 2, 4 and 5 hold item rows, of 1 + b views each.
    expect(totals.get('s0')).toEqual({ views: 1 + 2 + 3 + 5 + 6, clicks: 0 });
    expect(totals.get('s7999')).toEqual({ views: 17, clicks: 5 });
    expect([...totals.keys()].filter((id) => id.startsWith('s')).length).toBe(8_000);
    for (const id of odd) expect(totals.get(id)).toEqual({ views: 7, clicks: 1 });
    const users = await sink.client.query({
      query: `SELECT count() AS n, sum(events) AS events, sum(push_opens) AS opens FROM ${sink.database}.user_day FINAL`,
      format: 'JSONEachRow',
    });
    expect((await users.json<Record<string, string | number>>()).map((r) => Object.values(r).map(Number))).toEqual([[12_000, 24_000, 3_000]]);
  });

  it('fails a write that ClickHouse refuses', async () => {
    const other = new ClickHouseSink({ url: url as string, database: uniqueName('freshet_missing'), username: 'default', password: '' });
    try {
      const rows = [{ minute: 0, itemId: 'i1', views: 1, clicks: 0 }];
      await expect(other.write([{ batchId: 'events/0/0-0', rows }])).rejects.toThrow(/freshet_missing/);
    } finally {
      await other.close();
    }
  });

  it('refuses a database name that is not a plain identifier', () => {
    expect(() => new ClickHouseSink({ url: url as string, database: 'x; DROP TABLE y', username: 'default', password: '' }))
      .toThrow(/CLICKHOUSE_DATABASE must match/);
  });
});
