import { describe, expect, it } from 'vitest';
import { RecentIds } from '../../src/pipeline/dedupe.ts';

describe('RecentIds', () => {
  it('forgets the oldest ids beyond its capacity', () => {
    const recent = new RecentIds(3);
    recent.addAll(['a', 'b', 'c', 'd']);
    expect(['a', 'b', 'c', 'd'].map((id) => recent.has(id))).toEqual([false, true, true, true]);
    expect(recent.size).toBe(3);
  });

  it('counts an id added again as recent from then on', () => {
    const recent = new RecentIds(3);
    recent.addAll(['a', 'b', 'a', 'c']);
    // Order of last additions: b, a, c.
    expect(recent.size).toBe(3);
    recent.addAll(['d']);
    expect(['a', 'b', 'c', 'd'].map((id) => recent.has(id))).toEqual([true, false, true, true]);
    recent.addAll(['e']);
    expect(['a', 'c', 'd', 'e'].map((id) => recent.has(id))).toEqual([false, true, true, true]);
  });

  it('stays bounded over a long stream', () => {
    const recent = new RecentIds(1000);
    for (let i = 0; i < 100; i++) recent.addAll(Array.from({ length: 1000 }, (_, j) => String((i * 1000 + j) % 1500)));
    expect(recent.size).toBe(1000);
    expect(recent.has(String((99 * 1000 + 999) % 1500))).toBe(true);
  });
});
