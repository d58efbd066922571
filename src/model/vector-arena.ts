import { DOT_KERNEL_WASM } from './dot-kernel-wasm.ts';
import { growMemory, instantiateKernel, type WasmMemory } from './wasm-module.ts';

interface KernelExports {
  memory: WasmMemory;
  dots(query: number, table: number, dims: number, rows: number, count: number, out: number): void;
  scan(
    query: number, table: number, dims: number, start: number, end: number,
    bias: number, floor: number, rows: number, scores: number,
  ): number;
}

/**
 * Row-major float32 vectors kept in WebAssembly memory, so that many rows can
 * be scored against one query by the SIMD kernel of dot-kernel.wat (about five
 * times the rows per second of the JavaScript loop, measured in Node 24 on
 * 64 floats a row).
 *
 * Layout: the query, then the table (grown in place, so row data never moves),
 * then each row's bias, then scratch for results and row numbers. Growing the
 * memory detaches every earlier view: read `vectors` and `biases` again after
 * `grow`, and keep no subarray across it.
 */
export class VectorArena {
  readonly dimensions: number;
  /** The table, `dimensions` floats per row, `capacity` rows. */
  vectors: Float32Array;
  /**
   * A float64 per row, added to its dot product by `scan`. Unlike the table, not kept when the
   * arena grows: write them after `grow`.
   */
  biases: Float64Array;
  private capacity = 0;
  private readonly kernel: KernelExports;
  private readonly tableAt: number;
  private biasAt = 0;
  private rowsAt = 0;
  private outAt = 0;
  private scoresAt = 0;
  private query = new Float32Array(0);
  private rows = new Int32Array(0);
  private out = new Float32Array(0);
  private scores = new Float64Array(0);

  constructor(dimensions: number, capacity: number) {
    this.dimensions = dimensions;
    this.kernel = instantiateKernel<KernelExports>(DOT_KERNEL_WASM);
    this.tableAt = Math.ceil((dimensions * 4) / 16) * 16;
    this.vectors = new Float32Array(0);
    this.biases = new Float64Array(0);
    this.grow(capacity);
  }

  /** Makes room for `capacity` rows, keeping the rows there are. */
  grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    const tableBytes = capacity * this.dimensions * 4;
    this.biasAt = this.tableAt + Math.ceil(tableBytes / 16) * 16;
    this.scoresAt = this.biasAt + capacity * 8;
    this.rowsAt = this.scoresAt + capacity * 8;
    this.outAt = this.rowsAt + capacity * 4;
    const buffer = growMemory(this.kernel.memory, this.outAt + capacity * 4);
    this.capacity = capacity;
    this.query = new Float32Array(buffer, 0, this.dimensions);
    this.vectors = new Float32Array(buffer, this.tableAt, capacity * this.dimensions);
    this.biases = new Float64Array(buffer, this.biasAt, capacity);
    this.rows = new Int32Array(buffer, this.rowsAt, capacity);
    this.out = new Float32Array(buffer, this.outAt, capacity);
    this.scores = new Float64Array(buffer, this.scoresAt, capacity);
  }

  /**
   * The dot product of `query` with rows `rows[0..count)`, or with rows 0..count when `rows` is
   * undefined, summed in float32. The result is scratch: valid until the next call.
   */
  dots(query: Float32Array, rows: ArrayLike<number> | undefined, count: number): Float32Array {
    if (count > this.capacity) throw new RangeError(`${count} rows asked of an arena of ${this.capacity}`);
    this.setQuery(query);
    const scratch = this.rows;
    if (rows === undefined) for (let i = 0; i < count; i++) scratch[i] = i;
    else if (rows instanceof Int32Array) scratch.set(rows.subarray(0, count));
    else for (let i = 0; i < count; i++) scratch[i] = rows[i] as number;
    this.kernel.dots(0, this.tableAt, this.dimensions, this.rowsAt, count, this.outAt);
    return this.out;
  }

  /**
   * Scores rows `start` to `end - 1`: each row's `biases` entry plus its float32 dot product with
   * `query`, summed in float64. Calls `take(row, score)` for every row scoring above `floor`, in
   * row order.
   */
  scan(query: Float32Array, start: number, end: number, floor: number, take: (row: number, score: number) => void): void {
    if (start < 0 || end > this.capacity) throw new RangeError(`rows ${start} to ${end} asked of an arena of ${this.capacity}`);
    if (end <= start) return;
    this.setQuery(query);
    const found = this.kernel.scan(0, this.tableAt, this.dimensions, start, end, this.biasAt, floor, this.rowsAt, this.scoresAt);
    const rows = this.rows;
    const scores = this.scores;
    for (let i = 0; i < found; i++) take(rows[i] as number, scores[i] as number);
  }

  // A copy float by float: `scan` runs once per cell of the bound index, and a subarray to copy
  // from would be one more object of garbage each time.
  private setQuery(query: Float32Array): void {
    const d = this.dimensions;
    if (query.length < d) throw new RangeError(`a query of ${query.length} floats for rows of ${d}`);
    const target = this.query;
    for (let f = 0; f < d; f++) target[f] = query[f] as number;
  }
}
