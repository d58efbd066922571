import type { ItemMatrix } from './scoring.ts';
import type { ItemRecord } from './records.ts';
import { VectorArena } from './vector-arena.ts';

/**
 * A growable in-process copy of item records, row per item, for ranking all items at once.
 * The vectors live in a `VectorArena`, so that the SIMD kernel scores them in place. A released
 * row (an item gone from the store) is taken by the next new item before the table grows, so a
 * catalogue that turns over keeps as many rows as it ever held at once.
 */
export class GrowableItemMatrix implements ItemMatrix {
  readonly dimensions: number;
  readonly ids: string[] = [];
  readonly arena: VectorArena;
  vectors: Float32Array;
  bias: Float64Array;
  ts: Float64Array;
  private readonly rows = new Map<string, number>();
  /** Released rows: id '', bias -Infinity and a zero vector until an item takes one. */
  private readonly free: number[] = [];

  constructor(dimensions: number, capacity = 1024) {
    this.dimensions = dimensions;
    this.arena = new VectorArena(dimensions, capacity);
    this.vectors = this.arena.vectors;
    this.bias = new Float64Array(capacity);
    this.ts = new Float64Array(capacity);
  }

  /** Rows in use, released ones included: the rows a scan visits. */
  get size(): number {
    return this.ids.length;
  }

  /** Rows holding an item. */
  get live(): number {
    return this.ids.length - this.free.length;
  }

  row(id: string): number | undefined {
    return this.rows.get(id);
  }

  upsert(id: string, record: ItemRecord): void {
    let row = this.rows.get(id);
    if (row === undefined) {
      row = this.free.pop();
      if (row === undefined) {
        row = this.ids.length;
        if (row >= this.bias.length) this.grow(row * 2);
        this.ids.push(id);
      } else {
        this.ids[row] = id;
      }
      this.rows.set(id, row);
    }
    this.vectors.set(record.vec, row * this.dimensions);
    this.bias[row] = record.bias;
    this.ts[row] = record.ts;
  }

  /**
   * Frees a row: it scores -Infinity (below any item, so no ranking returns it), is similar to
   * nothing, and goes to the next new item.
   */
  release(row: number): void {
    const id = this.ids[row];
    if (id === undefined || id === '' || this.rows.get(id) !== row) return;
    this.rows.delete(id);
    this.ids[row] = '';
    this.bias[row] = -Infinity;
    this.vectors.fill(0, row * this.dimensions, (row + 1) * this.dimensions);
    this.free.push(row);
  }

  /** Makes room for `capacity` rows; subclasses with rows of their own grow those too. */
  protected grow(capacity: number): void {
    this.arena.grow(capacity);
    const bias = new Float64Array(capacity);
    bias.set(this.bias);
    const ts = new Float64Array(capacity);
    ts.set(this.ts);
    this.vectors = this.arena.vectors;
    this.bias = bias;
    this.ts = ts;
  }
}
