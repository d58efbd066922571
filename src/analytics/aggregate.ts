import type { InteractionEvent } from '../events/schema.ts';

/** Views and clicks of one item in one minute of event time. */
export interface ItemMinuteRow {
  /** Start of the minute, epoch seconds (UTC). */
  minute: number;
  itemId: string;
  views: number;
  clicks: number;
}

/** Per-item, per-minute view and click counts of a batch, in a stable order. */
export function itemMinuteCounts(events: readonly InteractionEvent[]): ItemMinuteRow[] {
  const rows = new Map<string, ItemMinuteRow>();
  for (const event of events) {
    if (event.type !== 'view' && event.type !== 'click') continue;
    const minute = Math.floor(event.ts / 60_000) * 60;
    const key = `${minute}\u0000${event.itemId}`;
    let row = rows.get(key);
    if (row === undefined) {
      row = { minute, itemId: event.itemId, views: 0, clicks: 0 };
      rows.set(key, row);
    }
    if (event.type === 'view') row.views++;
    else row.clicks++;
  }
  return [...rows.values()];
}
