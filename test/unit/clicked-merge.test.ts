import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/model/random.ts';
import { encodeUser, USER_CLICKED_HEADER_BYTES, userBytes } from '../../src/model/records.ts';
import { clickedSlack, mergeClicked } from '../../src/state/clicked-merge.ts';
import { newestFirst } from '../../src/state/store.ts';

const DIMS = 4;

function entries(list: ReadonlyArray<readonly [string, number]>): Buffer {
  return Buffer.concat(
    list.map(([id, ts]) => {
      const head = Buffer.alloc(10);
      head.writeDoubleLE(ts, 0);
      head.writeUInt16LE(Buffer.byteLength(id), 8);
      return Buffer.concat([head, Buffer.from(id)]);
    }),
  );
}

/** A stored user value: the record, the header and the entries (count as given, else theirs). */
function stored(list: ReadonlyArray<readonly [string, number]>, count = list.length): Buffer {
  const body = entries(list);
  const header = Buffer.alloc(USER_CLICKED_HEADER_BYTES);
  header[0] = 1;
  header.writeUInt16LE(DIMS, 1);
  header.writeUInt32LE(count, 3);
  header.writeUInt32LE(body.length, 7);
  return Buffer.concat([encodeUser({ ts: 1, count: 1, vec: new Float32Array(DIMS) }), header, body]);
}

function decode(tail: Buffer): { count: number; list: Array<[string, number]> } {
  const list: Array<[string, number]> = [];
  for (let at = USER_CLICKED_HEADER_BYTES; at < tail.length; ) {
    const length = tail.readUInt16LE(at + 8);
    list.push([tail.toString('utf8', at + 10, at + 10 + length), tail.readDoubleLE(at)]);
    at += 10 + length;
  }
  return { count: tail.readUInt32LE(3), list };
}

/** The rule stated plainly: every item once at its latest time, newest first, cut to the cap past the slack. */
function expected(old: Array<[string, number]>, added: Array<[string, number]>, cap: number): Array<[string, number]> {
  const latest = new Map(old);
  for (const [id, ts] of added) latest.set(id, Math.max(ts, latest.get(id) ?? -Infinity));
  const all = [...latest].sort(newestFirst);
  return all.length > cap + clickedSlack(cap) ? all.slice(0, cap) : all;
}

describe('merging a batch into the clicked items read', () => {
  it('keeps every item once at its latest time, newest first, and cuts back to the cap past the slack', () => {
    const next = seededRandom(7);
    const cap = 24;
    for (let round = 0; round < 400; round++) {
      const latest = new Map<string, number>();
      const oldCount = Math.floor(next() * 40);
      for (let n = 0; n < oldCount; n++) latest.set(`i${Math.floor(next() * 60)}`, Math.floor(next() * 100));
      const old = [...latest].sort(newestFirst);
      const batch = new Map<string, number>();
      const addedCount = Math.floor(next() * 12);
      for (let n = 0; n < addedCount; n++) batch.set(`i${Math.floor(next() * 60)}`, 60 + Math.floor(next() * 60));
      const added = [...batch].sort(newestFirst);
      const tail = mergeClicked(stored(old), entries(added), added.length, DIMS, cap) as Buffer;
      const want = expected(old, added, cap);
      // A batch with no clicks leaves the list as stored, even past the slack.
      expect(decode(tail).list, `round ${round}`).toEqual(added.length === 0 ? old : want);
      expect(decode(tail).count).toBe(decode(tail).list.length);
      expect(tail.readUInt32LE(7)).toBe(tail.length - USER_CLICKED_HEADER_BYTES);
    }
  });

  it('cuts a list back to the cap when newer items take it past the slack, and only then', () => {
    const cap = 20;
    const old = Array.from({ length: cap + clickedSlack(cap) - 2 }, (_, n) => [`o${n}`, 100 - n] as [string, number]);
    const two = mergeClicked(stored(old), entries([['n1', 300], ['n0', 200]]), 2, DIMS, cap) as Buffer;
    expect(decode(two).count).toBe(cap + clickedSlack(cap));
    const three = mergeClicked(stored(old), entries([['n2', 400], ['n1', 300], ['n0', 200]]), 3, DIMS, cap) as Buffer;
    expect(decode(three)).toEqual({ count: cap, list: [['n2', 400], ['n1', 300], ['n0', 200], ...old.slice(0, cap - 3)] });
  });

  it('starts from the batch for a user stored with none', () => {
    const tail = mergeClicked(null, entries([['b', 2], ['a', 1]]), 2, DIMS, 500) as Buffer;
    expect(decode(tail)).toEqual({ count: 2, list: [['b', 2], ['a', 1]] });
  });

  it('ranks equal times by the id bytes, the longer id first when one begins the other', () => {
    const tail = mergeClicked(stored([['ab', 5]]), entries([['b', 5], ['a', 5]]), 2, DIMS, 500) as Buffer;
    expect(decode(tail).list.map(([id]) => id)).toEqual(['b', 'ab', 'a']);
  });

  it('leaves to the script a value of the earlier layout, another dimension, or entries that do not parse', () => {
    const added = entries([['a', 1]]);
    expect(mergeClicked(encodeUser({ ts: 1, count: 1, vec: new Float32Array(DIMS) }), added, 1, DIMS, 500)).toBeUndefined();
    expect(mergeClicked(stored([['x', 1]]), added, 1, 8, 500)).toBeUndefined();
    // A header counting more entries than it holds.
    expect(mergeClicked(stored([['x', 1]], 3), added, 1, DIMS, 500)).toBeUndefined();
    // An entry cut short.
    const cut = stored([['xyz', 1]]);
    cut.writeUInt16LE(9, userBytes(DIMS) + USER_CLICKED_HEADER_BYTES + 8);
    expect(mergeClicked(cut, added, 1, DIMS, 500)).toBeUndefined();
    // An id twice.
    expect(mergeClicked(stored([['x', 2], ['x', 1]]), added, 1, DIMS, 500)).toBeUndefined();
  });
});
