import type { Metrics } from '../metrics.ts';
import { GrowableItemMatrix } from '../model/item-matrix.ts';
import type { ItemRecord } from '../model/records.ts';
import type { Scorer } from '../model/scoring.ts';
import { TopK, type Scored } from '../model/topk.ts';
import type { StateStore } from '../state/store.ts';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BoundIndex, DEFAULT_BOUND_OPTIONS, layoutSteps, type BoundIndexOptions, type BoundLayout } from './bound-index.ts';

type IndexMetrics = Pick<Metrics, 'indexLookups' | 'indexItems' | 'indexUnplaced' | 'indexChanged' | 'indexLayoutPause'>;

/** Lay the bound index out again at once when the index has grown by this factor since. */
const LAYOUT_REGROWTH = 1.5;
/**
 * A changed row stays in the cell it was laid out in (its bound raised if need be), and a new
 * row is scored for every request: answers stay exact, but bounds loosen and new rows add up
 * while the model trains. So once any row has changed, the cells are laid out again (a step
 * at a time, between batches and requests), but not more often than this, ms.
 */
const LAYOUT_MIN_INTERVAL_MS = 30_000;
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
  private readonly metrics: IndexMetrics | undefined;
  private aged = new Float64Array(1024);
  private agedClock = Number.NaN;
  private agedStale = true;
  /** Changes whenever `aged` is recomputed. */
  private agedVersion = 0;
  /** Item count from which requests scan the bound index instead of every item. */
  private readonly boundMinItems: number;
  private bounds: BoundIndex | undefined;
  private laidOutSize = 0;
  private laidOutAt = 0;
  /** Rows upserted since the vectors of the installed layout were taken (a row once per upsert). */
  private changed = 0;
  /** Rows upserted since the vectors of the layout in flight were taken. */
  private changedDuringLayout = 0;
  private layingOut: Promise<void> | undefined;
  private layoutFailedAt = -Infinity;
  /** Wall-clock time each row's item was last written to the store, ms. */
  private writtenAt = new Float64Array(this.bias.length);
  /** Items not written for this long have expired from the store and leave the index, ms; 0 never. */
  private readonly itemTtlMs: number;
  private readonly boundOptions: BoundIndexOptions;
  private sweptAt = -Infinity;

  constructor(
    store: StateStore,
    dimensions: number,
    now: () => number = Date.now,
    metrics?: IndexMetrics,
    boundMinItems = Infinity,
    itemTtlMs = 0,
    boundOptions: Partial<BoundIndexOptions> = {},
  ) {
    super(dimensions);
    this.store = store;
    this.now = now;
    this.metrics = metrics;
    this.boundMinItems = boundMinItems;
    this.itemTtlMs = itemTtlMs;
    this.boundOptions = { ...DEFAULT_BOUND_OPTIONS, ...boundOptions };
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
   * Whether requests scan the bound index (else every item): a large index, laid out. Asking,
   * like ranking, starts a layout in the background when one is due.
   */
  get bounded(): boolean {
    return this.servingBounds() !== undefined;
  }

  /** Item changes since the vectors of the serving layout were taken; 0 while no layout serves. */
  get changedSinceLayout(): number {
    return this.bounds === undefined ? 0 : this.changed;
  }

  /** Rows of the bound index scanned by the last ranking that used it. */
  get lastScanned(): number {
    return this.bounds?.lastScanned ?? this.size;
  }

  /**
   * The k best items for a user vector by `scorer`'s rule (`aged`: `agedBiases(scorer)`), never
   * one of `exclude`: exactly the top-k of every row, through the bound index when there is one.
   */
  rank(scorer: Scorer, query: Float32Array, aged: Float64Array, k: number, exclude: ReadonlySet<string>): Scored[] {
    const bounds = this.servingBounds();
    if (bounds === undefined) return scorer.rankAged(query, this, aged, k, exclude);
    const top = new TopK(k);
    // The bound index keeps a copy of the biases per version: any other array is copied afresh.
    const version = aged === this.aged && !this.agedStale ? this.agedVersion : Number.NaN;
    const added = bounds.search(query, aged, version, this.ids, exclude, top);
    scorer.scoreInto(top, query, this, aged, exclude, added);
    return top.result();
  }

  private servingBounds(): BoundIndex | undefined {
    if (this.size < this.boundMinItems) return undefined;
    this.layOutIfStale();
    return this.bounds;
  }

  /** Starts laying the cells out when there are none, the index grew, or rows changed. */
  private layOutIfStale(): void {
    if (this.layingOut !== undefined || this.size < this.boundMinItems) return;
    const now = this.now();
    // After a failed layout (serving scans every item meanwhile), wait before the next one.
    if (now - this.layoutFailedAt < LAYOUT_MIN_INTERVAL_MS) return;
    const stale =
      this.bounds === undefined ||
      this.size > this.laidOutSize * LAYOUT_REGROWTH ||
      (this.changed > 0 && now - this.laidOutAt > LAYOUT_MIN_INTERVAL_MS);
    if (!stale) return;
    const size = this.size;
    this.changedDuringLayout = 0;
    // The cells are banded by the aged biases last computed (the raw biases before any): bands
    // only steer how tight the bounds are, never what is found.
    const aged = (this.aged.length >= size && !this.agedStale ? this.aged : this.bias).slice(0, size);
    this.layingOut = this.layOutInSteps(aged)
      .then((layout) => {
        const bounds = new BoundIndex(this.boundOptions);
        const started = performance.now();
        bounds.install(this, layout, this.bounds);
        this.metrics?.indexLayoutPause.observe((performance.now() - started) / 1000);
        this.bounds = bounds;
        this.changed = this.changedDuringLayout;
        this.metrics?.indexUnplaced.set(bounds.joined);
        this.metrics?.indexChanged.set(this.changedSinceLayout);
        this.version++;
        this.laidOutSize = size;
        this.laidOutAt = now;
      })
      .catch(() => {
        // Serving scans every item until a later layout succeeds: the index it replaced may
        // have lent its memory to the failed install.
        this.bounds = undefined;
        this.layoutFailedAt = now;
      })
      .finally(() => {
        this.layingOut = undefined;
      });
  }

  /**
   * The cells of the first `aged.length` rows, laid out a step at a time on this thread (each
   * step about a millisecond at 32 floats), so that batches and requests go on between steps.
   */
  private async layOutInSteps(aged: Float64Array): Promise<BoundLayout> {
    const steps = layoutSteps(this, aged, this.boundOptions);
    for (;;) {
      const step = steps.next();
      if (step.done === true) return step.value;
      await nextTurn();
    }
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
    this.metrics?.indexUnplaced.set(this.bounds?.joined ?? 0);
    this.metrics?.indexChanged.set(this.changedSinceLayout);
    this.layOutIfStale();
  }

  /**
   * Items whose store keys have expired (not written for the item TTL) leave the index: their
   * rows are released (see `release`) and taken by new items. Checked at most every 10 s.
   */
  private retireExpired(now: number): void {
    if (this.itemTtlMs <= 0 || now - this.sweptAt < Math.min(10_000, this.itemTtlMs / 10)) return;
    this.sweptAt = now;
    const cutoff = now - this.itemTtlMs;
    let changed = false;
    for (let row = 0; row < this.size; row++) {
      if ((this.writtenAt[row] as number) >= cutoff || this.ids[row] === '') continue;
      this.release(row);
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
    super.upsert(id, record);
    const row = this.row(id) as number;
    this.changed++;
    if (this.layingOut !== undefined) this.changedDuringLayout++;
    this.agedStale = true;
    this.version++;
    // A changed item keeps its cell until the next layout, and so does a new one given a released
    // row; a new one given a new row is scored for every request.
    this.bounds?.update(this, row);
  }

}
