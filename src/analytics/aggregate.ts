import type { InteractionEvent } from '../events/schema.ts';

/** Views and clicks of one item in one minute of event time. */
export interface ItemMinuteRow {
  /** Start of the minute, epoch seconds (UTC). */
  minute: number;
  itemId: string;
  views: number;
  clicks: number;
}

const newMinuteRow = (minute: number, itemId: string): ItemMinuteRow => ({ minute, itemId, views: 0, clicks: 0 });

/** Per-item, per-minute view and click counts of a batch, in a stable order. */
export function itemMinuteCounts(events: readonly InteractionEvent[]): ItemMinuteRow[] {
  const rows = new KeyedRows<number, ItemMinuteRow>();
  for (const event of events) {
    if (event.type !== 'view' && event.type !== 'click') continue;
    const minute = Math.floor(event.ts / 60_000) * 60;
    const row = rows.get(minute, event.itemId, newMinuteRow);
    if (event.type === 'view') row.views++;
    else row.clicks++;
  }
  return rows.list;
}

/**
 * Rows keyed by a number (a minute, a day) and an id, in the order they were first asked for.
 * Two levels of maps rather than one keyed by the two joined: a batch of thousands of events
 * would otherwise build and hash a key string per event.
 */
export class KeyedRows<K, R> {
  readonly list: R[] = [];
  private readonly byKey = new Map<K, Map<string, R>>();

  get(key: K, id: string, create: (key: K, id: string) => R): R {
    let inner = this.byKey.get(key);
    if (inner === undefined) this.byKey.set(key, (inner = new Map()));
    let row = inner.get(id);
    if (row === undefined) {
      row = create(key, id);
      inner.set(id, row);
      this.list.push(row);
    }
    return row;
  }
}
