/** Where sampled negatives come from; process state, rebuilt from the stream after a restart. */
export interface NegativeOptions {
  /** Sampled negatives per positive event. */
  perPositive: number;
  /** Recent positive item ids kept for popularity sampling, and distinct items for uniform. */
  poolSize: number;
  /** Share of negatives drawn uniformly over distinct recent items instead of by popularity. */
  uniformShare: number;
  /**
   * Most distinct sampled negatives in one batch. A batch whose clicks would draw more first
   * draws this many, and each click then draws its negatives among them: the items a batch
   * writes stay bounded, whatever its size. 0: no bound.
   */
  perBatch: number;
  /**
   * Where a click has real negatives (views of the same user left unclicked in its batch), the
   * weight of all its pairs together, as a multiple of the click's weight, shared among them.
   */
  realWeight: number;
}

/**
 * Samples negatives for a positive: with probability `uniformShare` uniformly over the distinct
 * items seen recently, otherwise from a ring of recent positives, so in proportion to recent
 * popularity. Deterministic for a given random source and order of calls.
 */
export class NegativeSampler {
  private readonly options: NegativeOptions;
  private readonly random: () => number;
  private readonly recent: string[] = [];
  private recentNext = 0;
  private readonly distinct: string[] = [];
  private readonly slots = new Map<string, number>();
  private distinctNext = 0;

  constructor(options: NegativeOptions, random: () => number) {
    this.options = options;
    this.random = random;
  }

  /**
   * Negatives for a click on `positive`, drawn from the pool or among a batch's `among`. With
   * `drawn` (as long as `among`), each position of `among` that was taken is set to 1: a batch
   * collects the items it must read from those marks instead of adding every draw to a set.
   */
  sample(positive: string, among?: readonly string[], drawn?: Uint8Array): string[] {
    const { perPositive } = this.options;
    if (this.recent.length === 0) return [];
    // Sized once: growing an empty array by pushes allocated about three times as much, per click.
    const out = new Array<string>(perPositive);
    let taken = 0;
    for (let attempt = 0; taken < perPositive && attempt < perPositive * 4; attempt++) {
      if (among === undefined) {
        const id = this.draw();
        if (id !== positive) out[taken++] = id;
        continue;
      }
      const at = Math.floor(this.random() * among.length);
      const id = among[at] as string;
      if (id === positive) continue;
      out[taken++] = id;
      if (drawn !== undefined) drawn[at] = 1;
    }
    out.length = taken;
    return out;
  }

  /** One item of the pool: uniform over the distinct items with `uniformShare`, else by popularity. */
  private draw(): string {
    const pool = this.random() < this.options.uniformShare ? this.distinct : this.recent;
    return pool[Math.floor(this.random() * pool.length)] as string;
  }

  /**
   * The negatives a batch with `positives` sampled clicks draws among: undefined when they draw
   * at most `perBatch` in all (each samples the whole pool), else `perBatch` distinct items
   * drawn as single negatives are.
   */
  batchPool(positives: number): string[] | undefined {
    const { perPositive, perBatch } = this.options;
    if (perBatch <= 0 || positives * perPositive <= perBatch || this.recent.length === 0) return undefined;
    const chosen = new Set<string>();
    for (let attempt = 0; chosen.size < perBatch && attempt < perBatch * 4; attempt++) chosen.add(this.draw());
    return [...chosen];
  }

  remember(itemId: string): void {
    const size = this.options.poolSize;
    if (size <= 0) return;
    if (this.recent.length < size) this.recent.push(itemId);
    else {
      this.recent[this.recentNext] = itemId;
      this.recentNext = (this.recentNext + 1) % size;
    }
    if (this.slots.has(itemId)) return;
    if (this.distinct.length < size) {
      this.slots.set(itemId, this.distinct.length);
      this.distinct.push(itemId);
      return;
    }
    this.slots.delete(this.distinct[this.distinctNext] as string);
    this.distinct[this.distinctNext] = itemId;
    this.slots.set(itemId, this.distinctNext);
    this.distinctNext = (this.distinctNext + 1) % size;
  }
}
