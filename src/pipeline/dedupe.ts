/**
 * A bounded set of recently applied event ids: the oldest id leaves when the
 * set is full. Ids enter only after their batch is durable, so a batch that
 * is retried after a failed commit is not mistaken for a duplicate.
 */
export class RecentIds {
  private readonly capacity: number;
  private readonly ids = new Set<string>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  addAll(ids: Iterable<string>): void {
    for (const id of ids) {
      this.ids.delete(id);
      this.ids.add(id);
      if (this.ids.size > this.capacity) {
        const oldest = this.ids.values().next();
        if (oldest.done !== true) this.ids.delete(oldest.value);
      }
    }
  }

  get size(): number {
    return this.ids.size;
  }
}
