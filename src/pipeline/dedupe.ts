/**
 * A bounded set of recently applied event ids: the oldest id leaves when the
 * set is full. Ids enter only after their batch is durable, so a batch that
 * is retried after a failed commit is not mistaken for a duplicate.
 *
 * Insertion order is kept in a ring rather than read back from the set: taking
 * the first entry of a JS Set that keeps losing its first entries walks over
 * the deleted slots, which made eviction cost grow with the set's churn.
 */
export class RecentIds {
  private readonly capacity: number;
  /** Id -> number of the insertion that last added it. */
  private readonly ids = new Map<string, number>();
  private readonly ring: Array<string | undefined>;
  private inserted = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity);
    this.ring = new Array<string | undefined>(this.capacity);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    const slot = this.inserted % this.capacity;
    const leaving = this.ring[slot];
    // The slot's id leaves unless it was added again since (a later insertion owns it).
    if (leaving !== undefined && this.ids.get(leaving) === this.inserted - this.capacity) this.ids.delete(leaving);
    this.ring[slot] = id;
    this.ids.set(id, this.inserted);
    this.inserted++;
  }

  get size(): number {
    return this.ids.size;
  }
}
