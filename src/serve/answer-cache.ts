import type { Scored } from '../model/topk.ts';

/** What an answer was computed from: it is served again only while all of it is unchanged. */
export interface AnswerBasis {
  /** The user record's time and event count. */
  userTs: number;
  userCount: number;
  /** How many clicked items were excluded (the count stops at the cap), and the latest one's row. */
  clicked: number;
  latestClickedRow: number;
  /** The item index's version: while it holds, each row names the same item and scores the same. */
  indexVersion: number;
}

/** Row of "no clicked item". */
export const NO_ROW = -1;

/**
 * Users' last answers in typed arrays, by item index row, instead of an object and two arrays
 * per user. Tens of thousands of answers are kept, each outliving many minor collections: as
 * objects, every new one was copied into the old generation and lengthened the next full
 * collection. Here an answer adds only its user id (the key) to the heap; the arrays grow by
 * doubling up to `capacity` users. Answers longer than `width` items are not kept. When full,
 * the user kept longest ago leaves first (a user answered again keeps its place).
 */
export class AnswerCache {
  readonly capacity: number;
  readonly width: number;
  private readonly slots = new Map<string, number>();
  /** The user of each slot, for eviction. */
  private owners: string[] = [];
  private next = 0;
  private userTs = new Float64Array(0);
  private userCount = new Float64Array(0);
  private indexVersion = new Float64Array(0);
  private clicked = new Int32Array(0);
  private latestClickedRow = new Int32Array(0);
  /** The k asked and the items found (fewer when the index holds fewer). */
  private asked = new Int32Array(0);
  private found = new Int32Array(0);
  private rows = new Int32Array(0);
  private scores = new Float64Array(0);

  constructor(capacity: number, width: number) {
    this.capacity = capacity;
    this.width = width;
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * The first `k` items of the user's kept answer, if it was computed from `basis` for at least
   * `k` items; `idOf` names a row.
   */
  get(userId: string, basis: AnswerBasis, k: number, idOf: (row: number) => string): Scored[] | undefined {
    const slot = this.slots.get(userId);
    if (
      slot === undefined ||
      this.userTs[slot] !== basis.userTs ||
      this.userCount[slot] !== basis.userCount ||
      this.clicked[slot] !== basis.clicked ||
      this.latestClickedRow[slot] !== basis.latestClickedRow ||
      this.indexVersion[slot] !== basis.indexVersion ||
      (this.asked[slot] as number) < k
    ) {
      return undefined;
    }
    const items: Scored[] = [];
    const n = Math.min(k, this.found[slot] as number);
    for (let i = 0, at = slot * this.width; i < n; i++, at++) {
      items.push({ id: idOf(this.rows[at] as number), score: this.scores[at] as number });
    }
    return items;
  }

  /**
   * Keeps the user's answer for `k` (`rowOf` gives each item's row); false if not kept: too
   * long, or an item without a row.
   */
  set(
    userId: string,
    basis: AnswerBasis,
    k: number,
    items: readonly Scored[],
    rowOf: (id: string) => number | undefined,
  ): boolean {
    if (items.length > this.width || this.capacity <= 0) return false;
    let slot = this.slots.get(userId);
    if (slot === undefined) {
      slot = this.take();
      this.slots.set(userId, slot);
      this.owners[slot] = userId;
    }
    this.userTs[slot] = basis.userTs;
    this.userCount[slot] = basis.userCount;
    this.clicked[slot] = basis.clicked;
    this.latestClickedRow[slot] = basis.latestClickedRow;
    this.indexVersion[slot] = basis.indexVersion;
    this.asked[slot] = k;
    this.found[slot] = items.length;
    for (let i = 0, at = slot * this.width; i < items.length; i++, at++) {
      const item = items[i] as Scored;
      const row = rowOf(item.id);
      if (row === undefined) {
        this.asked[slot] = 0;
        return false;
      }
      this.rows[at] = row;
      this.scores[at] = item.score;
    }
    return true;
  }

  /** A free slot: a new one while below capacity, else the oldest, whose user is forgotten. */
  private take(): number {
    if (this.next < this.capacity) {
      if (this.next >= this.userTs.length) this.grow(Math.min(this.capacity, Math.max(1024, this.userTs.length * 2)));
      return this.next++;
    }
    const slot = this.next++ % this.capacity;
    this.slots.delete(this.owners[slot] as string);
    return slot;
  }

  private grow(slots: number): void {
    const wider = <T extends Float64Array | Int32Array>(old: T, make: (n: number) => T, per = 1): T => {
      const array = make(slots * per);
      array.set(old);
      return array;
    };
    this.userTs = wider(this.userTs, (n) => new Float64Array(n));
    this.userCount = wider(this.userCount, (n) => new Float64Array(n));
    this.indexVersion = wider(this.indexVersion, (n) => new Float64Array(n));
    this.clicked = wider(this.clicked, (n) => new Int32Array(n));
    this.latestClickedRow = wider(this.latestClickedRow, (n) => new Int32Array(n));
    this.asked = wider(this.asked, (n) => new Int32Array(n));
    this.found = wider(this.found, (n) => new Int32Array(n));
    this.rows = wider(this.rows, (n) => new Int32Array(n), this.width);
    this.scores = wider(this.scores, (n) => new Float64Array(n), this.width);
  }
}
