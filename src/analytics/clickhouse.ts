import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../log.ts';
import { userDayLines, userDaySql } from '../push/clickhouse.ts';
import type { AnalyticsBatch } from '../state/store.ts';
import { clickhouseLogClass } from './clickhouse-log.ts';
import { checkedDatabase } from './identifiers.ts';
import type { AnalyticsSink } from './sink.ts';

export interface ClickHouseOptions {
  url: string;
  database: string;
  username: string;
  password: string;
  /** Receives the client's own log lines (debug level); without it they are dropped. */
  logger?: Logger;
}


/**
 * The statements, kept as text builders so that a test can run the very same
 * SQL on a current ClickHouse release as well as on 18.16.
 */
export const itemMinuteSql = {
  create: (db: string) => [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE TABLE IF NOT EXISTS ${db}.item_minute (
      minute DateTime,
      item_id String,
      views UInt64,
      clicks UInt64,
      batch_id String
    ) ENGINE = ReplacingMergeTree()
    PARTITION BY toYYYYMM(minute)
    ORDER BY (item_id, minute, batch_id)`,
  ],
  table: (db: string) => `${db}.item_minute`,
  totals: (db: string) =>
    `SELECT item_id, sum(views) AS views, sum(clicks) AS clicks FROM ${db}.item_minute FINAL GROUP BY item_id`,
};

/** One batch's rows of item_minute as JSONEachRow lines, each ending in a newline ('' for none). */
export function itemMinuteLines(batch: AnalyticsBatch): string {
  let text = '';
  for (const row of batch.rows) {
    text += `${JSON.stringify({ minute: row.minute, item_id: row.itemId, views: row.views, clicks: row.clicks, batch_id: batch.batchId })}\n`;
  }
  return text;
}

/**
 * Per-item, per-minute views and clicks in ClickHouse. Rows carry the identity
 * of their source batch and the table collapses equal keys (ReplacingMergeTree),
 * so a batch written twice counts once: queries read it with FINAL.
 *
 * The SQL runs on ClickHouse 18.16 (no query parameters, LowCardinality,
 * DateTime64 or TTL there) and on current releases. Only validated identifiers
 * are pasted into statements; values travel as JSONEachRow data.
 */
export class ClickHouseSink implements AnalyticsSink {
  readonly kind = 'clickhouse' as const;
  readonly client: ClickHouseClient;
  readonly database: string;

  constructor(options: ClickHouseOptions) {
    this.database = checkedDatabase(options.database);
    this.client = createClient({
      url: options.url,
      username: options.username,
      password: options.password,
      request_timeout: 30_000,
      keep_alive: { enabled: true, idle_socket_ttl: 1_500 },
      log: { LoggerClass: clickhouseLogClass(options.logger) },
    });
  }

  /** Creates the database and tables if missing. */
  async migrate(): Promise<void> {
    for (const query of itemMinuteSql.create(this.database)) await this.client.command({ query });
    for (const query of userDaySql.create(this.database)) await this.client.command({ query });
  }

  async write(batches: readonly AnalyticsBatch[]): Promise<void> {
    await this.insertLines(itemMinuteSql.table(this.database), batches, itemMinuteLines);
    await this.insertLines(userDaySql.table(this.database), batches, userDayLines);
  }

  /**
   * One insert of every batch's lines, encoded a batch at a time as the request body is sent. Row
   * objects for the client to encode, joined by it into one string, held 36 MiB at once for
   * 125,000 rows, besides the 23 MiB of the decoded batches (a write of 250,000 rows, half of
   * them user rows).
   */
  private async insertLines(table: string, batches: readonly AnalyticsBatch[], lines: (batch: AnalyticsBatch) => string): Promise<void> {
    const texts = (function* () {
      for (const batch of batches) {
        const text = lines(batch);
        if (text !== '') yield text;
      }
    })();
    const first = texts.next();
    if (first.done === true) return;
    const body = Readable.from(
      (function* () {
        yield first.value;
        yield* texts;
      })(),
      { objectMode: false },
    );
    const { stream } = await this.client.exec({ query: `INSERT INTO ${table} FORMAT JSONEachRow`, values: body });
    for await (const _ of stream) {
      // The reply of an insert is empty; read to its end so that the socket is free again.
    }
  }

  /** All-time views and clicks per item, each batch counted once. */
  async itemTotals(): Promise<Map<string, { views: number; clicks: number }>> {
    const result = await this.client.query({ query: itemMinuteSql.totals(this.database), format: 'JSONEachRow' });
    const rows = await result.json<{ item_id: string; views: string | number; clicks: string | number }>();
    return new Map(rows.map((r) => [r.item_id, { views: Number(r.views), clicks: Number(r.clicks) }]));
  }

  async ping(): Promise<boolean> {
    return (await this.client.ping()).success;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export class NoAnalytics implements AnalyticsSink {
  readonly kind = 'none' as const;
  async write(): Promise<void> {}
  async close(): Promise<void> {}
}
