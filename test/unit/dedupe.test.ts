import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/model/random.ts';
import { BatchIds, RecentIds } from '../../src/pipeline/dedupe.ts';

describe('RecentIds', () => {
  it('forgets the oldest ids beyond its capacity', () => {
    const recent = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'd']) recent.add(id);
    expect(['a', 'b', 'c', 'd'].map((id) => recent.has(id))).toEqual([false, true, true, true]);
    expect(recent.size).toBe(3);
  });

  it('counts an id added again as recent from then on', () => {
    const recent = new RecentIds(3);
    for (const id of ['a', 'b', 'a', 'c']) recent.add(id);
    // Order of last additions: b, a, c.
    expect(recent.size).toBe(3);
    recent.add('d');
    expect(['a', 'b', 'c', 'd'].map((id) => recent.has(id))).toEqual([true, false, true, true]);
    recent.add('e');
    expect(['a', 'c', 'd', 'e'].map((id) => recent.has(id))).toEqual([false, true, true, true]);
  });

  it('stays bounded over a long stream', () => {
    const recent = new RecentIds(1000);
    for (let i = 0; i < 100_000; i++) recent.add(String(i % 1500));
    expect(recent.size).toBe(1000);
    expect(recent.has(String((99 * 1000 + 999) % 1500))).toBe(true);
  });

  // The ids live in an open-addressed table from which the oldest are removed; a reference
  // model (a Map of each id's last insertion) must agree with it. The small table (16 slots)
  // has runs of entries that wrap past its end at almost every removal.
  it.each([
    { capacity: 300, distinct: 1000, every: 101 },
    { capacity: 7, distinct: 20, every: 1 },
  ])('answers as a map of each id to its last insertion would ($capacity ids of $distinct re-added)', ({ capacity, distinct, every }) => {
    const recent = new RecentIds(capacity);
    const last = new Map<string, number>();
    const random = seededRandom(7);
    for (let n = 0; n < 30_000; n++) {
      const id = `e${Math.floor(random() * distinct)}`;
      recent.add(id);
      last.set(id, n);
      if (n % every === 0 || n > 29_900) {
        const wrong: string[] = [];
        for (let k = 0; k < distinct; k++) {
          const probe = `e${k}`;
          const expected = (last.get(probe) ?? -Infinity) > n - capacity;
          if (recent.has(probe) !== expected) wrong.push(probe);
        }
        if (wrong.length > 0) expect(wrong, `after ${n}`).toEqual([]);
        if (recent.size !== [...last.values()].filter((at) => at > n - capacity).length) expect.fail(`size after ${n}`);
      }
    }
  });
});

describe('BatchIds', () => {
  it('tells an id met before in the batch, and forgets all on clear', () => {
    const ids = new BatchIds(4);
    expect(['a', 'b', 'a', 'c', 'b'].map((id) => ids.add(id))).toEqual([true, true, false, true, false]);
    ids.clear();
    expect(['a', 'b', 'a'].map((id) => ids.add(id))).toEqual([true, true, false]);
  });

  it('grows past its expected size and keeps what it holds', () => {
    const ids = new BatchIds(2);
    for (let i = 0; i < 5000; i++) expect(ids.add(`id-${i}`)).toBe(true);
    for (let i = 0; i < 5000; i++) expect(ids.add(`id-${i}`)).toBe(false);
    ids.clear();
    expect(ids.add('id-1')).toBe(true);
  });
});
