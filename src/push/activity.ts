/**
 * Daily activity per user, for the report of weekly active users and of the
 * users a push brought back. Rows are aggregates of a batch's events and ride
 * in the analytics outbox with the batch id, like the per-item minutes.
 */
import { KeyedRows, type ItemMinuteRow } from '../analytics/aggregate.ts';
import type { InteractionEvent } from '../events/schema.ts';
import { HISTORY_SOURCE } from '../model/online-mf.ts';
import type { AnalyticsBatch } from '../state/store.ts';

export interface UserDayRow {
  /** Start of the UTC day, epoch seconds. */
  day: number;
  userId: string;
  /** Views and clicks. */
  events: number;
  pushOpens: number;
}

const DAY_MS = 86_400_000;

/** True for events that show the user active at their time (not a replayed history, not a send). */
export function isActivity(event: InteractionEvent): boolean {
  return event.type !== 'push_sent' && event.source !== HISTORY_SOURCE;
}

const newDayRow = (day: number, userId: string): UserDayRow => ({ day, userId, events: 0, pushOpens: 0 });

/** Per-user, per-day activity of a batch, in a stable order. */
export function userDayCounts(events: readonly InteractionEvent[]): UserDayRow[] {
  const rows = new KeyedRows<number, UserDayRow>();
  for (const event of events) {
    if (!isActivity(event)) continue;
    const day = Math.floor(event.ts / DAY_MS) * 86_400;
    const row = rows.get(day, event.userId, newDayRow);
    if (event.type === 'push_open') row.pushOpens++;
    else row.events++;
  }
  return rows.list;
}

/** The outbox entry of a batch: item minutes and, when analytics are on, user days. */
export function analyticsBatch(
  batchId: string,
  rows: ItemMinuteRow[],
  events: readonly InteractionEvent[],
): AnalyticsBatch | undefined {
  const users = userDayCounts(events);
  if (rows.length === 0 && users.length === 0) return undefined;
  return users.length === 0 ? { batchId, rows } : { batchId, rows, users };
}

/** Outbox value in Redis: the rows array alone (as before user days existed), or both. */
export function encodeOutbox(batch: AnalyticsBatch): string {
  return JSON.stringify(
    batch.users === undefined ? batch.rows : { rows: batch.rows, users: batch.users },
  );
}

export function decodeOutbox(batchId: string, json: string): AnalyticsBatch {
  const value = JSON.parse(json) as
    ItemMinuteRow[] | { rows: ItemMinuteRow[]; users: UserDayRow[] };
  return Array.isArray(value)
    ? { batchId, rows: value }
    : { batchId, rows: value.rows, users: value.users };
}
