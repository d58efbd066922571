import type { Metrics } from '../metrics.ts';
import type { ItemRecord } from '../model/records.ts';
import type { StateStore } from '../state/store.ts';

/**
 * An in-process copy of every item's vector and bias, laid out contiguously
 * for fast scoring, refreshed by the store's change sequence: only items
 * changed since the last refresh are read. Concurrent refreshes coalesce.
 */
export class ItemIndex {
  readonly dimensions: number;
  ids: string[] = [];
  /** Row-major vectors, `dimensions` floats per item. */
  vectors: Float32Array;
  bias: Float64Array;
  /** Event time each item's bias is stated at. */
  ts: Float64Array;
  /** Latest event time applied to the state (the model's clock). */
  clock = 0;
  private readonly positions = new Map<string, number>();
  private seq = 0;
  private refreshedAt = -Infinity;
  private inflight: Promise<void> | undefined;
  private readonly store: StateStore;
  private readonly now: () => number;
  private readonly metrics: Pick<Metrics, 'indexLookups' | 'indexItems'> | undefined;

  constructor(
    store: StateStore,
    dimensions: number,
    now: () => number = Date.now,
    metrics?: Pick<Metrics, 'indexLookups' | 'indexItems'>,
  ) {
    this.store = store;
    this.dimensions = dimensions;
    this.now = now;
    this.metrics = metrics;
    this.vectors = new Float32Array(1024 * dimensions);
    this.bias = new Float64Array(1024);
    this.ts = new Float64Array(1024);
  }

  get size(): number {
    return this.ids.length;
  }

  position(itemId: string): number | undefined {
    return this.positions.get(itemId);
  }

  vectorAt(position: number): Float32Array {
    return this.vectors.subarray(position * this.dimensions, (position + 1) * this.dimensions);
  }

  /** Refreshes unless the last refresh is younger than `maxAgeMs`. */
  async ensureFresh(maxAgeMs: number): Promise<void> {
    const fresh = this.now() - this.refreshedAt <= maxAgeMs;
    this.metrics?.indexLookups.inc({ result: fresh ? 'hit' : 'refresh' });
    if (fresh) return;
    await this.refresh();
  }

  refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async load(): Promise<void> {
    const started = this.now();
    const [changes, clock] = await Promise.all([this.store.itemsChangedSince(this.seq), this.store.clock()]);
    for (const [id, record] of changes.items) this.upsert(id, record);
    this.seq = changes.seq;
    this.clock = Math.max(this.clock, clock);
    this.refreshedAt = started;
    this.metrics?.indexItems.set(this.ids.length);
  }

  private upsert(id: string, record: ItemRecord): void {
    let position = this.positions.get(id);
    if (position === undefined) {
      position = this.ids.length;
      this.grow(position + 1);
      this.ids.push(id);
      this.positions.set(id, position);
    }
    this.vectors.set(record.vec, position * this.dimensions);
    this.bias[position] = record.bias;
    this.ts[position] = record.ts;
  }

  private grow(count: number): void {
    if (count <= this.bias.length) return;
    const capacity = Math.max(count, this.bias.length * 2);
    const vectors = new Float32Array(capacity * this.dimensions);
    vectors.set(this.vectors);
    const bias = new Float64Array(capacity);
    bias.set(this.bias);
    const ts = new Float64Array(capacity);
    ts.set(this.ts);
    this.vectors = vectors;
    this.bias = bias;
    this.ts = ts;
  }
}
