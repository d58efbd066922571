/**
 * The chunks of one partition, applied strictly one after another, with room for `depth` more
 * waiting behind the one being applied. A source that queues the next chunk here instead of
 * waiting for the last one's outcome can fetch again while the pipeline works: kafkajs fetches
 * anew only once every batch of its last fetch has been handed back, so without a queue the
 * pipeline idles for each fetch, and most of the machine idles while the last partition's
 * commit finishes.
 *
 * A chunk's state is read only after the one before it is written, so one partition's chunks
 * never race. When a chunk is not applied (`apply` resolves false) every chunk queued behind it
 * is dropped: applying a later one would leave a gap. The caller then moves its fetch position
 * back to the chunk that was not applied.
 */
export class Lane<T> {
  private readonly depth: number;
  private readonly apply: (item: T) => Promise<boolean>;
  private readonly queue: T[] = [];
  /** Calls of offer() waiting for room, woken in order. */
  private readonly waiting: Array<() => void> = [];
  private active: Promise<void> | undefined;
  /** Bumped by every reset: an item offered before it is not queued. */
  private generation = 0;

  constructor(depth: number, apply: (item: T) => Promise<boolean>) {
    this.depth = Math.max(0, depth);
    this.apply = apply;
  }

  /** The current generation, to pass to offer() by a caller that reads it before waiting. */
  get epoch(): number {
    return this.generation;
  }

  /** Items applied or waiting: the one being applied counts. */
  get size(): number {
    return this.queue.length + (this.active === undefined ? 0 : 1);
  }

  /**
   * Queues `item` once there is room: true when it was queued, false when the lane was reset
   * since `epoch` (the item is not queued, and nothing after it should be).
   */
  async offer(item: T, epoch = this.generation): Promise<boolean> {
    while (epoch === this.generation && this.size > this.depth) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    if (epoch !== this.generation) return false;
    this.queue.push(item);
    if (this.active === undefined) this.active = this.drain();
    return true;
  }

  /** Drops the waiting items and refuses those still being offered; the one being applied goes on. */
  reset(): void {
    this.generation++;
    this.queue.length = 0;
    this.wake();
  }

  /** Resolves once at most `count` items are being applied or waiting, or once the lane is reset. */
  async atMost(count: number): Promise<void> {
    const epoch = this.generation;
    while (epoch === this.generation && this.size > count) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Resolves once nothing is being applied and nothing waits. */
  async idle(): Promise<void> {
    while (this.active !== undefined) await this.active;
  }

  private async drain(): Promise<void> {
    try {
      for (let item = this.queue.shift(); item !== undefined; item = this.queue.shift()) {
        this.wake();
        let applied = false;
        try {
          applied = await this.apply(item);
        } catch {
          applied = false;
        }
        if (!applied) this.reset();
      }
    } finally {
      this.active = undefined;
      this.wake();
    }
  }

  private wake(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
