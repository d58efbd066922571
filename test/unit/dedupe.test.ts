import { describe, expect, it } from 'vitest';
import { RecentIds } from '../../src/pipeline/dedupe.ts';

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
});
