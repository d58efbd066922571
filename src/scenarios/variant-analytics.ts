import type { ClickHouseClient } from '@clickhouse/client';
import type { VariantCounts } from './exposure.ts';
import { NAME_PATTERN } from './types.ts';

/** One row of `variant_events`: impressions or clicks of a scenario variant. */
export interface VariantRow {
  /** Minute of the impressions (wall clock) or of the click (event time), epoch seconds. */
  minute: number;
  scenario: string;
  variant: string;
  impressions: number;
  clicks: number;
  /** Identity of the row's source; rows with equal keys count once. */
  key: string;
}

/**
 * Impressions and clicks per scenario variant in ClickHouse, table
 * `<database>.variant_events`. Like `item_minute` it collapses equal keys
 * (ReplacingMergeTree, read with FINAL), so a row written twice counts once.
 * Runs on ClickHouse 18.16: no query parameters there, so the only value
 * pasted into SQL is a scenario name that matched NAME_PATTERN.
 */
export class VariantAnalytics {
  private readonly client: ClickHouseClient;
  private readonly table: string;

  /** `database` is the sink's, already validated as a plain identifier. */
  constructor(client: ClickHouseClient, database: string) {
    this.client = client;
    this.table = `${database}.variant_events`;
  }

  async migrate(): Promise<void> {
    await this.client.command({
      query: `CREATE TABLE IF NOT EXISTS ${this.table} (
        minute DateTime,
        scenario String,
        variant String,
        impressions UInt64,
        clicks UInt64,
        key String
      ) ENGINE = ReplacingMergeTree()
      PARTITION BY toYYYYMM(minute)
      ORDER BY (scenario, variant, key)`,
    });
  }

  async write(rows: readonly VariantRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.client.insert({ table: this.table, values: [...rows], format: 'JSONEachRow' });
  }

  /** All-time impressions and clicks per variant of one scenario. */
  async counts(scenario: string): Promise<Map<string, VariantCounts>> {
    if (!NAME_PATTERN.test(scenario)) throw new Error(`scenario name must match ${NAME_PATTERN}`);
    const result = await this.client.query({
      query: `SELECT variant, sum(impressions) AS impressions, sum(clicks) AS clicks
        FROM ${this.table} FINAL WHERE scenario = '${scenario}' GROUP BY variant`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<{
      variant: string;
      impressions: string | number;
      clicks: string | number;
    }>();
    return new Map(
      rows.map((r) => [
        r.variant,
        { impressions: Number(r.impressions), clicks: Number(r.clicks) },
      ]),
    );
  }
}
