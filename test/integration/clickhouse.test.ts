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

  it('refuses a database name that is not a plain identifier', () => {
    expect(() => new ClickHouseSink({ url: url as string, database: 'x; DROP TABLE y', username: 'default', password: '' }))
      .toThrow(/CLICKHOUSE_DATABASE must match/);
  });
});
