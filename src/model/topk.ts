/** A scored candidate. */
export interface Scored {
  id: string;
  score: number;
}

/**
 * Keeps the k highest scores seen, in a min-heap of fixed size: O(n log k) over
 * n candidates and O(k) memory. Ties keep the earlier candidate.
 */
export class TopK {
  private readonly k: number;
  private readonly ids: string[] = [];
  private readonly scores: number[] = [];

  constructor(k: number) {
    this.k = k;
  }

  /** The lowest score that a new candidate must beat once the heap is full. */
  get threshold(): number {
    return this.ids.length < this.k ? -Infinity : (this.scores[0] as number);
  }

  push(id: string, score: number): void {
    if (this.k <= 0 || Number.isNaN(score)) return;
    if (this.ids.length < this.k) {
      this.ids.push(id);
      this.scores.push(score);
      this.siftUp(this.ids.length - 1);
    } else if (score > (this.scores[0] as number)) {
      this.ids[0] = id;
      this.scores[0] = score;
      this.siftDown(0);
    }
  }

  /** Best first. */
  result(): Scored[] {
    return this.ids
      .map((id, i) => ({ id, score: this.scores[i] as number }))
      .sort((a, b) => b.score - a.score);
  }

  // Plain temporaries: a destructuring swap can allocate two arrays per call, which was about a
  // twentieth of the bytes a recommendation request allocated.
  private swap(a: number, b: number): void {
    const id = this.ids[a] as string;
    this.ids[a] = this.ids[b] as string;
    this.ids[b] = id;
    const score = this.scores[a] as number;
    this.scores[a] = this.scores[b] as number;
    this.scores[b] = score;
  }

  private siftUp(index: number): void {
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.scores[parent] as number) <= (this.scores[i] as number)) return;
      this.swap(parent, i);
      i = parent;
    }
  }

  private siftDown(index: number): void {
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < this.ids.length && (this.scores[left] as number) < (this.scores[smallest] as number)) smallest = left;
      if (right < this.ids.length && (this.scores[right] as number) < (this.scores[smallest] as number)) smallest = right;
      if (smallest === i) return;
      this.swap(smallest, i);
      i = smallest;
    }
  }
}
