import type { Metrics } from '../metrics.ts';
import { GrowableItemMatrix } from '../model/item-matrix.ts';
import type { ItemRecord } from '../model/records.ts';
import type { Scorer } from '../model/scoring.ts';
import { TopK, type Scored } from '../model/topk.ts';
import type { StateStore } from '../state/store.ts';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { ClusterIndex, DEFAULT_CLUSTER_OPTIONS, type ClusterFit, type ClusterIndexOptions } from './cluster-index.ts';

/** Rebuild the clusters at once when the index has grown by this factor since they were fitted. */
const CLUSTER_REGROWTH = 1.5;
/**
 * A changed row stays in the cluster it was fitted in, and a new row joins the nearest: while
 * the model trains, vectors drift from the centroids they were fitted around. So once any row
 * has changed, the clusters are refitted (in a worker thread: about 0.3 s of a core for 60,000
 * items), but not more often than this, ms.
 */
const CLUSTER_MIN_INTERVAL_MS = 30_000;
/**
 * Changed items applied per turn of the event loop: a refresh after a busy second holds
 * thousands, and applied at once they held batches and requests back for 60-80 ms.
 */
const UPSERTS_PER_TURN = 1000;

/**
 * An in-process copy of every item's vector and bias, laid out contiguously
 * for fast scoring, refreshed by the store's change sequence: only items
 * changed since the last refresh are read. Concurrent refreshes coalesce.
 */
export class ItemIndex extends GrowableItemMatrix {
  /** Latest event time applied to the state (the model's clock). */
  clock = 0;
  /** Changes with every item upserted and every clock move: equal versions score equally. */
  version = 0;
  private seq = 0;
  private refreshedAt = -Infinity;
  /** When this process last committed a change, ms. */
  private staleSince = -Infinity;
  private inflight: Promise<void> | undefined;
  private readonly store: StateStore;
  private readonly now: () => number;
  private readonly metrics: Pick<Metrics, 'indexLookups' | 'indexItems' | 'indexUnclustered'> | undefined;
  private aged = new Float64Array(1024);
  private agedClock = Number.NaN;
  private agedStale = true;
  /** Changes whenever `aged` is recomputed. */
  private agedVersion = 0;
  /** Item count from which requests scan cluster candidates instead of every item. */
  private readonly clusterMinItems: number;
  private clusters: ClusterIndex | undefined;
  private clusteredSize = 0;
  private clusteredAt = 0;
  /** Whether rows were upserted since the vectors of the installed fit were taken. */
  private changed = false;
  /** Whether rows were upserted since the vectors of the fit in flight were taken. */
  private changedDuringFit = false;
  private fitting: Promise<void> | undefined;
  /** Wall-clock time each row's item was last written to the store, ms. */
  private writtenAt = new Float64Array(this.bias.length);
  /** Items not written for this long have expired from the store and are retired here, ms; 0 never. */
  private readonly itemTtlMs: number;
  private readonly clusterOptions: Partial<ClusterIndexOptions>;
  private retired = 0;
  private sweptAt = -Infinity;

  constructor(
    store: StateStore,
    dimensions: number,
    now: () => number = Date.now,
    metrics?: Pick<Metrics, 'indexLookups' | 'indexItems' | 'indexUnclustered'>,
    clusterMinItems = Infinity,
    itemTtlMs = 0,
    clusterOptions: Partial<ClusterIndexOptions> = {},
  ) {
    super(dimensions);
    this.store = store;
    this.now = now;
    this.metrics = metrics;
    this.clusterMinItems = clusterMinItems;
    this.itemTtlMs = itemTtlMs;
    this.clusterOptions = clusterOptions;
  }

  /** Items that can be served: every row but the retired ones. */
  get live(): number {
    return this.size - this.retired;
  }

  position(itemId: string): number | undefined {
    return this.row(itemId);
  }

  vectorAt(position: number): Float32Array {
    return this.vectors.subarray(position * this.dimensions, (position + 1) * this.dimensions);
  }

  /** Every item's bias aged to the index's clock, recomputed only after a change. */
  agedBiases(scorer: Scorer): Float64Array {
    if (this.agedStale || this.agedClock !== this.clock) {
      if (this.aged.length < this.bias.length) this.aged = new Float64Array(this.bias.length);
      scorer.agedBiases(this, this.clock, this.aged);
      this.agedClock = this.clock;
      this.agedStale = false;
      this.agedVersion++;
    }
    return this.aged;
  }

  /**
   * Rows worth scoring for a user vector, or undefined when every row should be:
   * a small index, or a large one whose clusters are still being fitted.
   */
  candidates(query: Float32Array): number[] | undefined {
    const clusters = this.servingClusters();
    return clusters?.candidates(query);
  }

  /**
   * The k best items for a user vector by `scorer`'s rule (`aged`: `agedBiases(scorer)`), never
   * one of `exclude`: the rows of `candidates`, scored where they lie fastest; every row when
   * there are no clusters, or when the candidates hold fewer than k items.
   */
  rank(scorer: Scorer, query: Float32Array, aged: Float64Array, k: number, exclude: ReadonlySet<string>): Scored[] {
    const clusters = this.servingClusters();
    if (clusters === undefined) return scorer.rankAged(query, this, aged, k, exclude);
    const top = new TopK(k);
    // The head first: its scores set the floor below which the clusters' scan keeps nothing.
    scorer.scoreInto(top, query, this, aged, exclude, clusters.headRows);
    const rows = clusters.search(query, aged, this.agedVersion, this.ids, exclude, top);
    scorer.scoreInto(top, query, this, aged, exclude, rows);
    const items = top.result();
    return items.length < k ? scorer.rankAged(query, this, aged, k, exclude) : items;
  }

  private servingClusters(): ClusterIndex | undefined {
    if (this.size < this.clusterMinItems) return undefined;
    this.refitIfStale();
    return this.clusters;
  }

  /** Fits clusters in a worker thread when there are none, the index grew, or rows changed. */
  private refitIfStale(): void {
    if (this.fitting !== undefined || this.size < this.clusterMinItems) return;
    const now = this.now();
    const stale =
      this.clusters === undefined ||
      this.size > this.clusteredSize * CLUSTER_REGROWTH ||
      (this.changed && now - this.clusteredAt > CLUSTER_MIN_INTERVAL_MS);
    if (!stale) return;
    const size = this.size;
    this.changedDuringFit = false;
    const table = { size, dimensions: this.dimensions, vectors: this.vectors.slice(0, size * this.dimensions), bias: new Float64Array(0) };
    this.fitting = fitInWorker(table)
      .then((fit) => {
        const clusters = new ClusterIndex(this.clusterOptions);
        clusters.install(this, fit, this.clusters);
        this.clusters = clusters;
        this.changed = this.changedDuringFit;
        this.metrics?.indexUnclustered.set(clusters.joined);
        this.version++;
        this.clusteredSize = size;
        this.clusteredAt = now;
      })
      .catch(() => {
        // Serving scans every item until a later fit succeeds.
        this.clusteredAt = now;
      })
      .finally(() => {
        this.fitting = undefined;
      });
  }

  /**
   * Notes that the store has changed (this process committed a batch): the next lookup
   * refreshes whatever its staleness bound, so this process's own writes show at once.
   */
  markStale(): void {
    this.staleSince = this.now();
  }

  /**
   * Refreshes unless the last refresh is younger than `maxAgeMs` and began after this process's
   * last commit. `background` (the quality sample) starts a refresh when one is due but answers
   * from the index as it is, and ignores this process's own commits.
   */
  async ensureFresh(maxAgeMs: number, background = false): Promise<void> {
    const fresh = this.now() - this.refreshedAt <= maxAgeMs && (background || this.refreshedAt > this.staleSince);
    this.metrics?.indexLookups.inc({ result: fresh ? 'hit' : 'refresh' });
    if (fresh) return;
    if (!background) return this.refresh();
    // A failed background refresh is retried by the next lookup that finds the index stale.
    this.refresh().catch(() => undefined);
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
    let applied = 0;
    for (const [id, record, writtenAt] of changes.items) {
      if (applied > 0 && applied % UPSERTS_PER_TURN === 0) await nextTurn();
      this.upsert(id, record);
      this.writtenAt[this.row(id) as number] = writtenAt;
      applied++;
    }
    this.seq = changes.seq;
    this.retireExpired(started);
    if (clock > this.clock) {
      this.clock = clock;
      this.version++;
    }
    this.refreshedAt = started;
    this.metrics?.indexItems.set(this.live);
    this.metrics?.indexUnclustered.set(this.clusters?.joined ?? 0);
    this.refitIfStale();
  }

  /**
   * Items whose store keys have expired (not written for the item TTL) stop being served: bias
   * -Infinity ranks them below any real item, and a zero vector is similar to nothing. Checked
   * at most every 10 s. Known gap: their rows are not reused, so the memory of a retired item
   * comes back only when the process restarts.
   */
  private retireExpired(now: number): void {
    if (this.itemTtlMs <= 0 || now - this.sweptAt < Math.min(10_000, this.itemTtlMs / 10)) return;
    this.sweptAt = now;
    const cutoff = now - this.itemTtlMs;
    let changed = false;
    for (let row = 0; row < this.size; row++) {
      if ((this.writtenAt[row] as number) >= cutoff || this.bias[row] === -Infinity) continue;
      this.bias[row] = -Infinity;
      this.vectors.fill(0, row * this.dimensions, (row + 1) * this.dimensions);
      this.retired++;
      changed = true;
    }
    if (changed) {
      this.agedStale = true;
      this.version++;
    }
  }

  protected override grow(capacity: number): void {
    super.grow(capacity);
    const writtenAt = new Float64Array(capacity);
    writtenAt.set(this.writtenAt);
    this.writtenAt = writtenAt;
  }

  override upsert(id: string, record: ItemRecord): void {
    const existing = this.row(id);
    // A retired item written again is served again.
    if (existing !== undefined && this.bias[existing] === -Infinity) this.retired--;
    super.upsert(id, record);
    const row = this.row(id) as number;
    this.changed = true;
    if (this.fitting !== undefined) this.changedDuringFit = true;
    this.agedStale = true;
    this.version++;
    // A changed item keeps its cluster until the next fit; a new one is placed now.
    this.clusters?.update(this, row);
  }

}

function fitInWorker(table: { size: number; dimensions: number; vectors: Float32Array; bias: Float64Array }): Promise<ClusterFit> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./cluster-worker.ts', import.meta.url));
    worker.once('message', (fit: ClusterFit) => {
      resolve(fit);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`cluster worker exited with ${code}`));
    });
    worker.postMessage({ table, options: DEFAULT_CLUSTER_OPTIONS }, [table.vectors.buffer as ArrayBuffer]);
  });
}
