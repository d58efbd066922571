import type { TopK } from '../model/topk.ts';
import { seededRandom } from '../model/random.ts';
import { VectorArena } from '../model/vector-arena.ts';

/** Row-major item vectors and biases, as kept by the item index. */
export interface VectorTable {
  readonly size: number;
  readonly dimensions: number;
  readonly vectors: Float32Array;
  readonly bias: Float64Array;
}

export interface BoundIndexOptions {
  /** Bands of aged bias (by quantile) the rows are split into. */
  biasBands: number;
  /** Bands of vector length (by quantile) each bias band is split into. */
  normBands: number;
}

export const DEFAULT_BOUND_OPTIONS: BoundIndexOptions = { biasBands: 128, normBands: 32 };

/**
 * Each row's cell, numbered in scan order: the highest band of bias first and, within it, the
 * longest vectors first. Rows past `cellOf.length` were added after the layout.
 */
export interface BoundLayout {
  cells: number;
  cellOf: Int32Array;
}

/**
 * Slack on the bound of a dot product: the kernel sums in float32, which can exceed the exact
 * product by about dimensions × 2⁻²⁴ of |query|·|row|, far below this.
 */
const BOUND_SLACK = 1e-4;
/**
 * Past this, a float32 dot product can overflow to Infinity, above any float64 bound: a cell
 * whose rows may reach it is always scanned.
 */
const FLOAT32_REACH = 3e38;
/** `packedAt` of a row not yet seen by the index, and of one in `added`. */
const UNSEEN = -1;
const ADDED = -2;

/**
 * An exact top-k index for scores of the form `aged bias + query · row`. Rows are packed into
 * cells of similar aged bias and similar vector length. No row of a cell can score above
 * `max aged bias + |query| · max length` (Cauchy-Schwarz), so a query scans the cells in order
 * of bias, skipping every cell whose bound cannot beat the k-th best score found so far. On
 * trained factors most cells are skipped. The answer is the exact top-k of every row, whatever
 * the layout: a layout that has grown stale only costs more scanning. Of items tied at the k-th
 * score, the one kept may differ from a scan in row order.
 */
export class BoundIndex {
  readonly options: BoundIndexOptions;
  private dimensions = 0;
  /** The vectors of the rows the layout placed, copied in cell order; biases gathered beside them. */
  private packed: VectorArena | undefined;
  /** First packed position of each cell, and one past the last cell's. */
  private cellStart = new Int32Array(1);
  private packedRow = new Int32Array(0);
  /** Each row's packed position; UNSEEN or ADDED for a row the layout did not place. */
  private packedAt = new Int32Array(0);
  private cellMaxNorm = new Float64Array(0);
  private cellMaxAged = new Float64Array(0);
  private cellOfPacked = new Int32Array(0);
  /** The version of the aged biases copied into the packed arena, once per version. */
  private agedVersion = Number.NaN;
  /** Rows added since the layout, scored from the table for every query. */
  private added: number[] = [];
  /** Rows of the packed copy scanned by the last search (for tests and tuning). */
  lastScanned = 0;

  constructor(options: Partial<BoundIndexOptions> = {}) {
    this.options = { ...DEFAULT_BOUND_OPTIONS, ...options };
  }

  get built(): boolean {
    return this.packed !== undefined;
  }

  /** How many rows were added since the layout (each scored for every query). */
  get joined(): number {
    return this.added.length;
  }

  /** Lays out the table with its biases as the aged biases, at once. */
  rebuild(table: VectorTable): void {
    this.install(table, layoutCells(table, table.bias, this.options));
  }

  /**
   * Takes a layout (made from the table as it was, perhaps steps ago), packing each row it
   * placed from the table as it is now; rows it did not see are added. `replaced`: the index
   * this one replaces, whose packed memory is reused (it serves no more).
   */
  install(table: VectorTable, layout: BoundLayout, replaced?: BoundIndex): void {
    const { dimensions: d, size } = table;
    this.dimensions = d;
    const cells = layout.cells;
    const placed = Math.min(size, layout.cellOf.length);
    const start = new Int32Array(cells + 1);
    for (let row = 0; row < placed; row++) (start[(layout.cellOf[row] as number) + 1] as number)++;
    for (let c = 0; c < cells; c++) start[c + 1] = (start[c + 1] as number) + (start[c] as number);
    const next = start.slice(0, cells);
    // WebAssembly memory never shrinks and is freed only when collected: a new layout reuses it.
    const reused = replaced?.packed?.dimensions === d ? replaced.packed : undefined;
    if (replaced !== undefined) replaced.packed = undefined;
    const packed = reused ?? new VectorArena(d, Math.max(1, placed));
    packed.grow(Math.max(1, placed));
    this.packedRow = new Int32Array(placed);
    this.packedAt = new Int32Array(Math.max(size, 1024)).fill(UNSEEN);
    this.cellOfPacked = new Int32Array(placed);
    this.cellMaxNorm = new Float64Array(cells);
    this.cellMaxAged = new Float64Array(cells);
    // Runs on the serving thread: one pass, no per-row allocation (a median 12-13 ms for 122,643
    // rows of 32 floats, 29 ms for 200,000 of 64, against 23-24 and 42-44 when each row's length
    // was a second pass over the packed copy).
    // Known gap: the pass is not split into steps, which would need a second packed copy.
    this.packed = packed;
    const target = packed.vectors;
    const source = table.vectors;
    const cellOf = layout.cellOf;
    for (let row = 0; row < placed; row++) {
      const cell = cellOf[row] as number;
      const at = next[cell] as number;
      next[cell] = at + 1;
      this.packedRow[at] = row;
      this.packedAt[row] = at;
      this.cellOfPacked[at] = cell;
      this.copyRow(target, source, row, at, cell);
    }
    this.cellStart = start;
    this.agedVersion = Number.NaN;
    this.added = [];
    for (let row = placed; row < size; row++) {
      this.added.push(row);
      this.packedAt[row] = ADDED;
    }
  }

  /**
   * Notes a new or changed row, after the table holds its vector: a placed row has its packed
   * copy rewritten and its cell's bound raised if need be; a new row is added.
   */
  update(table: VectorTable, row: number): void {
    if (!this.built) return;
    if (row >= this.packedAt.length) {
      const packedAt = new Int32Array(Math.max(row + 1, this.packedAt.length * 2)).fill(UNSEEN);
      packedAt.set(this.packedAt);
      this.packedAt = packedAt;
    }
    const at = this.packedAt[row] as number;
    if (at === UNSEEN) {
      this.added.push(row);
      this.packedAt[row] = ADDED;
      return;
    }
    if (at < 0 || this.packed === undefined) return;
    this.copyRow(this.packed.vectors, table.vectors, row, at, this.cellOfPacked[at] as number);
  }

  /**
   * Copies a row's vector from the table to its packed position and raises its cell's longest
   * length if need be, in one loop (the length is of the float32 values copied): the install
   * runs this for every row while requests wait.
   */
  private copyRow(target: Float32Array, source: Float32Array, row: number, at: number, cell: number): void {
    const d = this.dimensions;
    let sum = 0;
    for (let f = 0, from = row * d, to = at * d; f < d; f++) {
      const value = source[from + f] as number;
      target[to + f] = value;
      sum += value * value;
    }
    const norm = Math.sqrt(sum);
    if (norm > (this.cellMaxNorm[cell] as number)) this.cellMaxNorm[cell] = norm;
  }

  /**
   * Pushes into `top` every packed row that can be among its best, and returns the rows added
   * since the layout, to be scored from the table. `aged`: each row's aged bias, `agedVersion`
   * changing whenever they do; `ids`: each row's item id; `exclude`: ids never pushed.
   */
  search(
    query: Float32Array,
    aged: Float64Array,
    agedVersion: number,
    ids: readonly string[],
    exclude: ReadonlySet<string>,
    top: TopK,
  ): readonly number[] {
    this.lastScanned = 0;
    const packed = this.packed;
    if (packed === undefined) return this.added;
    let scanned = 0;
    this.gatherAged(packed, aged, agedVersion);
    const reach = lengthAt(query, 0, query.length) * (1 + BOUND_SLACK);
    const packedRow = this.packedRow;
    // The k-th best score so far: rows and cells at or below it cannot enter `top`.
    let floor = top.threshold;
    const take = (at: number, score: number) => {
      if (score <= floor) return;
      const id = ids[packedRow[at] as number] as string;
      if (exclude.has(id)) return;
      top.push(id, score);
      floor = top.threshold;
    };
    const start = this.cellStart;
    const maxAged = this.cellMaxAged;
    const maxNorm = this.cellMaxNorm;
    for (let c = 0; c < maxAged.length; c++) {
      const dot = reach * (maxNorm[c] as number);
      if ((maxAged[c] as number) + dot <= floor && dot < FLOAT32_REACH) continue;
      const from = start[c] as number;
      const to = start[c + 1] as number;
      packed.scan(query, from, to, floor, take);
      scanned += to - from;
    }
    this.lastScanned = scanned;
    return this.added;
  }

  /** Copies the aged biases into the packed arena in packed order, and takes each cell's highest. */
  private gatherAged(packed: VectorArena, aged: Float64Array, version: number): void {
    if (this.agedVersion === version) return;
    const rows = this.packedRow;
    const out = packed.biases;
    const start = this.cellStart;
    for (let c = 0; c < this.cellMaxAged.length; c++) {
      let max = -Infinity;
      for (let at = start[c] as number, end = start[c + 1] as number; at < end; at++) {
        const bias = aged[rows[at] as number] as number;
        out[at] = bias;
        if (bias > max) max = bias;
      }
      this.cellMaxAged[c] = max;
    }
    this.agedVersion = version;
  }
}

/** The length of the `d` floats of `values` from `offset`. */
function lengthAt(values: Float32Array, offset: number, d: number): number {
  let sum = 0;
  for (let f = offset; f < offset + d; f++) sum += (values[f] as number) ** 2;
  return Math.sqrt(sum);
}

/** Rows whose values the band edges are taken from: a sample of a larger table. */
const EDGE_SAMPLE = 16_384;
/** Rows per step of a layout: at most this many, and fewer for long vectors (below). */
const LAYOUT_STEP_ROWS = 16_384;
/** Vector floats measured per step of a layout: 16,384 rows of 32 floats. */
const LAYOUT_STEP_FLOATS = 524_288;

/**
 * The value at each of `bands - 1` evenly spaced quantiles of `values` (ascending), taken from
 * at most EDGE_SAMPLE of them, one at a seeded random place in each of as many equal runs of
 * rows: unlike a fixed stride, no periodic pattern in the row order can hide a kind of row from
 * it. Bands only steer how tight the bounds are.
 */
function bandEdges(values: Float64Array, bands: number): Float64Array {
  const run = Math.max(1, Math.ceil(values.length / EDGE_SAMPLE));
  const sorted = new Float64Array(Math.ceil(values.length / run));
  const random = seededRandom(0x5eed);
  for (let i = 0; i < sorted.length; i++) {
    const from = i * run;
    sorted[i] = values[from + Math.floor(random() * Math.min(run, values.length - from))] as number;
  }
  sorted.sort();
  const edges = new Float64Array(Math.max(0, bands - 1));
  for (let i = 0; i < edges.length; i++) edges[i] = sorted[Math.floor(((i + 1) * sorted.length) / bands)] as number;
  return edges;
}

/** The band of `value`: how many edges are at or below it. */
function band(edges: Float64Array, value: number): number {
  let low = 0;
  let high = edges.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (value >= (edges[mid] as number)) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * Cells by quantiles of aged bias (`aged`, one per row) and of vector length, numbered highest
 * bias band first and longest vectors first within it.
 */
export function layoutCells(
  table: Pick<VectorTable, 'size' | 'dimensions' | 'vectors'>,
  aged: Float64Array,
  options: BoundIndexOptions,
): BoundLayout {
  const steps = layoutSteps(table, aged, options);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/**
 * `layoutCells` in steps of at most LAYOUT_STEP_ROWS rows and LAYOUT_STEP_FLOATS floats (at 32
 * floats a row, about 1 ms a step that measures rows and 2 ms one that places them), so that a
 * large table is laid out on the serving thread between requests. The first `table.size` rows
 * are placed, their vectors read from `table.vectors` as each step finds them: a row changed
 * meanwhile only steers its cell less well, as the bounds come from the rows packed.
 */
export function* layoutSteps(
  table: Pick<VectorTable, 'size' | 'dimensions' | 'vectors'>,
  aged: Float64Array,
  options: BoundIndexOptions,
): Generator<void, BoundLayout> {
  const { size, dimensions: d } = table;
  const stepRows = Math.max(1024, Math.min(LAYOUT_STEP_ROWS, Math.floor(LAYOUT_STEP_FLOATS / d)));
  const norms = new Float64Array(size);
  const biases = new Float64Array(size);
  for (let from = 0; from < size; from += stepRows) {
    const vectors = table.vectors;
    for (let row = from, end = Math.min(size, from + stepRows); row < end; row++) {
      norms[row] = lengthAt(vectors, row * d, d);
      // Retired rows (bias -Infinity) sort first and land in the lowest band.
      const bias = aged[row] as number;
      biases[row] = Number.isFinite(bias) ? bias : -Number.MAX_VALUE;
    }
    yield;
  }
  const { biasBands, normBands } = options;
  const biasEdges = bandEdges(biases, biasBands);
  const normEdges = bandEdges(norms, normBands);
  const cellOf = new Int32Array(size);
  for (let from = 0; from < size; from += stepRows) {
    yield;
    for (let row = from, end = Math.min(size, from + stepRows); row < end; row++) {
      const b = biasBands - 1 - band(biasEdges, biases[row] as number);
      const n = normBands - 1 - band(normEdges, norms[row] as number);
      cellOf[row] = b * normBands + n;
    }
  }
  return { cells: biasBands * normBands, cellOf };
}
