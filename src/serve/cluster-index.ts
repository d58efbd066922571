import { seededRandom } from '../model/random.ts';

/** Row-major item vectors and biases, as kept by the item index. */
export interface VectorTable {
  readonly size: number;
  readonly dimensions: number;
  readonly vectors: Float32Array;
  readonly bias: Float64Array;
}

export interface ClusterIndexOptions {
  /** Number of clusters (k-means centroids). */
  clusters: number;
  /** Clusters scanned per query: those whose centroid scores highest for the user. */
  probes: number;
  /** Items with the highest biases, scanned for every query whatever their cluster. */
  head: number;
  /** Items sampled to fit the centroids. */
  sample: number;
  iterations: number;
  seed: number;
}

export const DEFAULT_CLUSTER_OPTIONS: ClusterIndexOptions = {
  clusters: 256,
  probes: 24,
  head: 512,
  sample: 8192,
  iterations: 8,
  seed: 7,
};

function dotAt(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, d: number): number {
  let sum = 0;
  for (let f = 0; f < d; f++) sum += (a[aOffset + f] as number) * (b[bOffset + f] as number);
  return sum;
}

/**
 * An inverted-file candidate index for maximum inner product: items are
 * grouped by spherical k-means on their vectors; a query scans the clusters
 * whose centroids point most its way, plus the items with the highest bias
 * (popular items score high for everyone). Scoring of the candidates stays
 * exact; only the candidate set is approximate.
 */
export class ClusterIndex {
  readonly options: ClusterIndexOptions;
  private dimensions = 0;
  private centroids = new Float32Array(0);
  private clusterOf = new Int32Array(0);
  private members: number[][] = [];
  private slot = new Int32Array(0);
  private headRows = new Set<number>();
  private headFloor = Infinity;

  constructor(options: Partial<ClusterIndexOptions> = {}) {
    this.options = { ...DEFAULT_CLUSTER_OPTIONS, ...options };
  }

  get built(): boolean {
    return this.members.length > 0;
  }

  /** Fits centroids on a sample of the table and assigns every row. */
  rebuild(table: VectorTable): void {
    const { size, dimensions: d } = table;
    const k = Math.max(1, Math.min(this.options.clusters, Math.floor(size / 4)));
    const random = seededRandom(this.options.seed);
    const sample: number[] = [];
    const want = Math.min(size, this.options.sample);
    for (let i = 0; i < size && sample.length < want; i++) {
      if (random() < (want - sample.length) / (size - i)) sample.push(i);
    }

    this.dimensions = d;
    const centroids = new Float32Array(k * d);
    sample.slice(0, k).forEach((row, c) => centroids.set(this.unit(table, row), c * d));
    const assignment = new Int32Array(sample.length);
    for (let iteration = 0; iteration < this.options.iterations; iteration++) {
      sample.forEach((row, i) => {
        assignment[i] = this.nearest(centroids, k, table.vectors, row * d);
      });
      centroids.fill(0);
      sample.forEach((row, i) => {
        const base = (assignment[i] as number) * d;
        const unit = this.unit(table, row);
        for (let f = 0; f < d; f++) centroids[base + f] = (centroids[base + f] as number) + (unit[f] as number);
      });
      for (let c = 0; c < k; c++) this.normalize(centroids, c * d);
    }

    this.centroids = centroids;
    this.members = Array.from({ length: k }, () => []);
    this.clusterOf = new Int32Array(Math.max(size, 1024)).fill(-1);
    this.slot = new Int32Array(this.clusterOf.length);
    for (let row = 0; row < size; row++) this.place(table, row);
    this.rebuildHead(table);
  }

  /** Places a new or changed row; call after the table holds its new vector and bias. */
  update(table: VectorTable, row: number): void {
    if (!this.built) return;
    if (row >= this.clusterOf.length) this.grow(row + 1);
    const previous = this.clusterOf[row] as number;
    if (previous >= 0) this.remove(previous, row);
    this.place(table, row);
    if ((table.bias[row] as number) > this.headFloor) this.headRows.add(row);
  }

  /** Rows worth scoring exactly for a query vector. */
  candidates(query: Float32Array): number[] {
    const d = this.dimensions;
    const k = this.members.length;
    const scores = new Float64Array(k);
    for (let c = 0; c < k; c++) scores[c] = dotAt(query, 0, this.centroids, c * d, d);
    const order = Array.from({ length: k }, (_, c) => c).sort((a, b) => (scores[b] as number) - (scores[a] as number));
    const rows: number[] = [...this.headRows];
    for (const c of order.slice(0, this.options.probes)) {
      for (const row of this.members[c] as number[]) if (!this.headRows.has(row)) rows.push(row);
    }
    return rows;
  }

  private unit(table: VectorTable, row: number): Float32Array {
    const d = table.dimensions;
    const out = table.vectors.slice(row * d, (row + 1) * d);
    this.normalize(out, 0, d);
    return out;
  }

  private normalize(values: Float32Array, offset: number, d = this.dimensions): void {
    let norm = 0;
    for (let f = 0; f < d; f++) norm += (values[offset + f] as number) ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let f = 0; f < d; f++) values[offset + f] = (values[offset + f] as number) / norm;
  }

  private nearest(centroids: Float32Array, k: number, vectors: Float32Array, offset: number): number {
    const d = this.dimensions;
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < k; c++) {
      const score = dotAt(vectors, offset, centroids, c * d, d);
      if (score > bestScore) {
        bestScore = score;
        best = c;
      }
    }
    return best;
  }

  private place(table: VectorTable, row: number): void {
    const cluster = this.nearest(this.centroids, this.members.length, table.vectors, row * this.dimensions);
    const list = this.members[cluster] as number[];
    this.clusterOf[row] = cluster;
    this.slot[row] = list.length;
    list.push(row);
  }

  private remove(cluster: number, row: number): void {
    const list = this.members[cluster] as number[];
    const at = this.slot[row] as number;
    const last = list.pop() as number;
    if (last !== row) {
      list[at] = last;
      this.slot[last] = at;
    }
    this.clusterOf[row] = -1;
  }

  private grow(count: number): void {
    const capacity = Math.max(count, this.clusterOf.length * 2);
    const clusterOf = new Int32Array(capacity).fill(-1);
    clusterOf.set(this.clusterOf);
    const slot = new Int32Array(capacity);
    slot.set(this.slot);
    this.clusterOf = clusterOf;
    this.slot = slot;
  }

  private rebuildHead(table: VectorTable): void {
    const rows = Array.from({ length: table.size }, (_, r) => r)
      .sort((a, b) => (table.bias[b] as number) - (table.bias[a] as number))
      .slice(0, this.options.head);
    this.headRows = new Set(rows);
    this.headFloor = rows.length < this.options.head ? -Infinity : (table.bias[rows.at(-1) as number] as number);
  }
}
