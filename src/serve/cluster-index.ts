import { seededRandom } from '../model/random.ts';
import type { TopK } from '../model/topk.ts';
import { VectorArena } from '../model/vector-arena.ts';

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
  probes: 16,
  head: 512,
  sample: 8192,
  iterations: 8,
  seed: 7,
};

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
  /** Centroids (unit length), scored by the SIMD kernel. */
  private centroids: VectorArena | undefined;
  private clusterOf = new Int32Array(0);
  private members: number[][] = [];
  private head: number[] = [];
  private inHead = new Uint8Array(0);
  private headFloor = Infinity;
  /**
   * The vectors of the rows the fit assigned, copied at install in cluster order (a cluster's
   * rows side by side), so that a query scans memory in order: about half the time per row of
   * reading the same rows where they lie in the table. A changed row's copy is rewritten in
   * place, so it is found in the cluster the fit gave it until the next fit. A row placed since
   * (new) has no copy here: it is listed in `joinedIn` under its cluster, and a query that probes
   * the cluster scores it from the table.
   */
  private packed: VectorArena | undefined;
  /** First position of each cluster's packed rows, and one past the last cluster's. */
  private packedStart = new Int32Array(0);
  private packedRow = new Int32Array(0);
  /** Each row's packed position, -1 for a row placed since the install. */
  private packedAt = new Int32Array(0);
  /**
   * The version of the aged biases copied into the packed arena (in packed order, beside the
   * vectors, where the scan kernel adds them), gathered once per version of the biases.
   */
  private packedAgedVersion = Number.NaN;
  /** Per cluster, its rows placed since the install. */
  private joinedIn: number[][] = [];
  private joinedCount = 0;

  constructor(options: Partial<ClusterIndexOptions> = {}) {
    this.options = { ...DEFAULT_CLUSTER_OPTIONS, ...options };
  }

  get built(): boolean {
    return this.members.length > 0;
  }

  /** Fits centroids on a sample of the table and assigns every row, in this thread. */
  rebuild(table: VectorTable): void {
    this.install(table, fitClusters(table, this.options));
  }

  /**
   * Takes a fit (made here or in a worker thread from a copy of the table).
   * Rows the fit did not see (added since) are placed now; the packed copy is taken from the
   * table as it is now. `replaced`: the index this one replaces, whose packed copy's memory is
   * reused (it serves no more).
   */
  install(table: VectorTable, fit: ClusterFit, replaced?: ClusterIndex): void {
    const { dimensions: d, size } = table;
    const k = fit.centroids.length / d;
    this.dimensions = d;
    this.centroids = centroidArena(fit.centroids, d);
    this.members = Array.from({ length: k }, () => []);
    this.clusterOf = new Int32Array(Math.max(size, 1024)).fill(-1);
    this.joinedIn = Array.from({ length: k }, () => []);
    this.joinedCount = 0;
    const fitted = Math.min(size, fit.assignment.length);
    for (let row = 0; row < size; row++) {
      const cluster = row < fitted ? (fit.assignment[row] as number) : -1;
      if (cluster < 0) this.placeJoined(table, row);
      else this.join(cluster, row);
    }
    this.pack(table, fit.assignment, fitted, k, replaced);
    this.rebuildHead(table);
  }

  /** Copies the fitted rows' vectors in cluster order. */
  private pack(table: VectorTable, assignment: Int32Array, fitted: number, k: number, replaced?: ClusterIndex): void {
    const d = this.dimensions;
    const start = new Int32Array(k + 1);
    for (let row = 0; row < fitted; row++) (start[(assignment[row] as number) + 1] as number)++;
    for (let c = 0; c < k; c++) start[c + 1] = (start[c + 1] as number) + (start[c] as number);
    const next = start.slice(0, k);
    // WebAssembly memory never shrinks and is freed only when collected: refits reuse it.
    const reused = replaced?.packed?.dimensions === d ? replaced.packed : undefined;
    if (replaced !== undefined) replaced.packed = undefined;
    const packed = reused ?? new VectorArena(d, Math.max(1, fitted));
    packed.grow(Math.max(1, fitted));
    const packedRow = new Int32Array(fitted);
    this.packedAt = new Int32Array(this.clusterOf.length).fill(-1);
    for (let row = 0; row < fitted; row++) {
      const cluster = assignment[row] as number;
      const at = next[cluster] as number;
      next[cluster] = at + 1;
      packedRow[at] = row;
      this.packedAt[row] = at;
      packed.vectors.set(table.vectors.subarray(row * d, (row + 1) * d), at * d);
    }
    this.packed = packed;
    this.packedStart = start;
    this.packedRow = packedRow;
  }

  /** How many rows were placed since the install (new ones). */
  get joined(): number {
    return this.joinedCount;
  }

  /**
   * Notes a new or changed row, after the table holds its vector and bias: a
   * row without a cluster (new) is placed in the nearest, a placed one keeps its
   * cluster until the next fit and has its packed copy rewritten; a bias above
   * the head's floor joins the head.
   */
  update(table: VectorTable, row: number): void {
    if (!this.built) return;
    if (row >= this.clusterOf.length) this.grow(row + 1);
    const at = this.packedAt[row] as number;
    if ((this.clusterOf[row] as number) < 0) this.placeJoined(table, row);
    else if (at >= 0 && this.packed !== undefined) {
      const d = this.dimensions;
      this.packed.vectors.set(table.vectors.subarray(row * d, (row + 1) * d), at * d);
    }
    if ((table.bias[row] as number) > this.headFloor && this.inHead[row] !== 1) {
      this.head.push(row);
      this.inHead[row] = 1;
      // Biases keep rising past the floor while the model trains: the head is re-chosen
      // rather than left to grow into a scan of everything.
      if (this.head.length > 2 * this.options.head) this.rebuildHead(table);
    }
  }

  /** Rows offered to every query (the highest biases). */
  get headRows(): readonly number[] {
    return this.head;
  }

  /** Rows worth scoring exactly for a query vector (the head first, each row once). */
  candidates(query: Float32Array): number[] {
    const rows = this.head.slice();
    for (const c of this.nearest(query)) {
      for (const row of this.members[c] as number[]) if (this.inHead[row] !== 1) rows.push(row);
    }
    return rows;
  }

  /**
   * Scores the probed clusters' packed rows into `top`, and returns the rows still to be scored
   * from the table: the probed clusters' rows placed since the install. `top` should already
   * hold the head's scores (`headRows`): the scan keeps only rows above its lowest score.
   * `aged`: each row's aged bias, `agedVersion` changing whenever they do; `ids`: each row's
   * item id; `exclude`: ids never pushed.
   */
  search(
    query: Float32Array,
    aged: Float64Array,
    agedVersion: number,
    ids: readonly string[],
    exclude: ReadonlySet<string>,
    top: TopK,
  ): number[] {
    const rows: number[] = [];
    const packed = this.packed;
    if (packed === undefined) return rows;
    this.gatherAged(packed, aged, agedVersion);
    const packedRow = this.packedRow;
    const inHead = this.inHead;
    const take = (at: number, score: number) => {
      if (score <= top.threshold) return;
      const row = packedRow[at] as number;
      if (inHead[row] === 1) return;
      const id = ids[row] as string;
      if (!exclude.has(id)) top.push(id, score);
    };
    for (const c of this.nearest(query)) {
      packed.scan(query, this.packedStart[c] as number, this.packedStart[c + 1] as number, top.threshold, take);
      for (const row of this.joinedIn[c] as number[]) if (inHead[row] !== 1) rows.push(row);
    }
    return rows;
  }

  /** Copies the aged biases into the packed arena, in packed order, once per version. */
  private gatherAged(packed: VectorArena, aged: Float64Array, version: number): void {
    if (this.packedAgedVersion === version) return;
    const rows = this.packedRow;
    const out = packed.biases;
    for (let at = 0; at < rows.length; at++) out[at] = aged[rows[at] as number] as number;
    this.packedAgedVersion = version;
  }

  /** The `probes` clusters whose centroids score highest for the query, best first. */
  private nearest(query: Float32Array): number[] {
    const k = this.members.length;
    if (this.centroids === undefined) return [];
    const scores = this.centroids.dots(query, undefined, k);
    const probes = Math.min(this.options.probes, k);
    const chosen = new Int32Array(probes).fill(-1);
    for (let c = 0; c < k; c++) {
      // Insertion into a short sorted list: probes is small.
      let at = probes;
      while (at > 0 && (chosen[at - 1] === -1 || (scores[c] as number) > (scores[chosen[at - 1] as number] as number))) at--;
      if (at >= probes) continue;
      chosen.copyWithin(at + 1, at, probes - 1);
      chosen[at] = c;
    }
    return [...chosen].filter((c) => c >= 0);
  }

  /** Places a row the packed copy does not hold, listed under its cluster. */
  private placeJoined(table: VectorTable, row: number): void {
    this.place(table, row);
    (this.joinedIn[this.clusterOf[row] as number] as number[]).push(row);
    this.joinedCount++;
  }

  private place(table: VectorTable, row: number): void {
    const d = this.dimensions;
    this.join(nearestCentroid(this.centroids as VectorArena, this.members.length, table.vectors.subarray(row * d, (row + 1) * d)), row);
  }

  private join(cluster: number, row: number): void {
    this.clusterOf[row] = cluster;
    (this.members[cluster] as number[]).push(row);
  }

  private grow(count: number): void {
    const capacity = Math.max(count, this.clusterOf.length * 2);
    const clusterOf = new Int32Array(capacity).fill(-1);
    clusterOf.set(this.clusterOf);
    const inHead = new Uint8Array(capacity);
    inHead.set(this.inHead);
    const packedAt = new Int32Array(capacity).fill(-1);
    packedAt.set(this.packedAt);
    this.packedAt = packedAt;
    this.clusterOf = clusterOf;
    this.inHead = inHead;
  }

  /** The `head` rows of highest bias, by a bounded min-heap: no sort of the whole table. */
  private rebuildHead(table: VectorTable): void {
    const size = Math.min(this.options.head, table.size);
    const heap = new Int32Array(size);
    const bias = (row: number) => table.bias[row] as number;
    const down = (at: number) => {
      for (;;) {
        const left = 2 * at + 1;
        if (left >= size) return;
        const right = left + 1;
        const low = right < size && bias(heap[right] as number) < bias(heap[left] as number) ? right : left;
        if (bias(heap[low] as number) >= bias(heap[at] as number)) return;
        [heap[at], heap[low]] = [heap[low] as number, heap[at] as number];
        at = low;
      }
    };
    for (let row = 0; row < size; row++) heap[row] = row;
    for (let at = (size >> 1) - 1; at >= 0; at--) down(at);
    for (let row = size; row < table.size; row++) {
      if (size > 0 && bias(row) > bias(heap[0] as number)) {
        heap[0] = row;
        down(0);
      }
    }
    const rows = [...heap].sort((a, b) => bias(b) - bias(a));
    this.head = rows;
    this.inHead = new Uint8Array(this.clusterOf.length);
    for (const row of rows) this.inHead[row] = 1;
    this.headFloor = rows.length < this.options.head ? -Infinity : bias(rows.at(-1) as number);
  }
}

/** Centroids (row-major, unit length) and each row's cluster. */
export interface ClusterFit {
  centroids: Float32Array;
  assignment: Int32Array;
}

function normalize(values: Float32Array, offset: number, d: number): void {
  let norm = 0;
  for (let f = 0; f < d; f++) norm += (values[offset + f] as number) ** 2;
  norm = Math.sqrt(norm) || 1;
  for (let f = 0; f < d; f++) values[offset + f] = (values[offset + f] as number) / norm;
}

/** Centroids of `d` floats each, copied into an arena of their own. */
function centroidArena(centroids: Float32Array, d: number): VectorArena {
  const arena = new VectorArena(d, Math.max(1, centroids.length / d));
  arena.vectors.set(centroids);
  return arena;
}

function nearestCentroid(centroids: VectorArena, k: number, vector: Float32Array): number {
  const scores = centroids.dots(vector, undefined, k);
  let best = 0;
  let bestScore = -Infinity;
  for (let c = 0; c < k; c++) {
    const score = scores[c] as number;
    if (score > bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}

/** Spherical k-means on a sample of the rows, then every row assigned: pure, for any thread. */
export function fitClusters(table: VectorTable, options: ClusterIndexOptions): ClusterFit {
  const { size, dimensions: d } = table;
  const k = Math.max(1, Math.min(options.clusters, Math.floor(size / 4)));
  const random = seededRandom(options.seed);
  const want = Math.min(size, options.sample);
  const sample = new Float32Array(want * d);
  let taken = 0;
  for (let row = 0; row < size && taken < want; row++) {
    if (random() < (want - taken) / (size - row)) {
      sample.set(table.vectors.subarray(row * d, (row + 1) * d), taken * d);
      normalize(sample, taken * d, d);
      taken++;
    }
  }

  const centroids = sample.slice(0, k * d);
  const assigned = new Int32Array(taken);
  const arena = new VectorArena(d, k);
  for (let iteration = 0; iteration < options.iterations; iteration++) {
    arena.vectors.set(centroids);
    for (let i = 0; i < taken; i++) assigned[i] = nearestCentroid(arena, k, sample.subarray(i * d, (i + 1) * d));
    centroids.fill(0);
    for (let i = 0; i < taken; i++) {
      const base = (assigned[i] as number) * d;
      for (let f = 0; f < d; f++) centroids[base + f] = (centroids[base + f] as number) + (sample[i * d + f] as number);
    }
    for (let c = 0; c < k; c++) normalize(centroids, c * d, d);
  }

  arena.vectors.set(centroids);
  const assignment = new Int32Array(size);
  for (let row = 0; row < size; row++) assignment[row] = nearestCentroid(arena, k, table.vectors.subarray(row * d, (row + 1) * d));
  return { centroids, assignment };
}
