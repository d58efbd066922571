import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemMinuteLines, itemMinuteSql } from '../../src/analytics/clickhouse.ts';
import { openChdb, type ChdbSession } from '../support/chdb.ts';

const session = await openChdb();

/** The same statements the sink runs on 18.16 in clickhouse.test.ts, on a current release. */
describe.skipIf(session === undefined)('clickhouse SQL on a current release (chdb)', () => {
  let db: ChdbSession;
  beforeAll(() => {
    db = session as ChdbSession;
  });
  afterAll(() => db.cleanup());

  it('runs a current version', () => {
    const [major] = JSON.parse(db.query('SELECT version() AS v', 'JSON')).data[0].v.split('.');
    expect(Number(major)).toBeGreaterThanOrEqual(24);
  });

  it('creates item_minute twice, and counts a batch written twice once', () => {
    const create = () => itemMinuteSql.create('freshet_modern').forEach((sql) => db.query(sql));
    create();
    create();
    const minute = Date.UTC(1997, 8, 20, 12, 5) / 1000;
    const batches = [
      { batchId: 'events/0/0-9', rows: [{ minute, itemId: 'i1', views: 3, clicks: 1 }] },
      { batchId: 'events/1/0-4', rows: [{ minute: minute + 60, itemId: 'i1', views: 2, clicks: 2 }] },
    ];
    const insert = (b: typeof batches) =>
      db.query(`INSERT INTO ${itemMinuteSql.table('freshet_modern')} FORMAT JSONEachRow ${b.map(itemMinuteLines).join('')}`);
    insert(batches);
    insert(batches.slice(0, 1));
    const rows = db.query(itemMinuteSql.totals('freshet_modern'), 'JSONEachRow').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => ({ ...r, views: Number(r.views), clicks: Number(r.clicks) }))).toEqual([
      { item_id: 'i1', views: 5, clicks: 3 },
    ]);
  });
});
