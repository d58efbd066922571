import { describe, expect, it } from 'vitest';
import { AnswerCache, NO_ROW, type AnswerBasis } from '../../src/serve/answer-cache.ts';

const ids = ['a', 'b', 'c', 'd', 'e'];
const idOf = (row: number) => ids[row] as string;
const rowOf = (id: string) => {
  const row = ids.indexOf(id);
  return row < 0 ? undefined : row;
};
const basis: AnswerBasis = { userTs: 1_700_000_000_123, userCount: 7, clicked: 2, latestClickedRow: 4, indexVersion: 9 };
const answer = [
  { id: 'c', score: 0.1 + 0.2 },
  { id: 'a', score: -1 / 3 },
  { id: 'd', score: 1e-300 },
];

describe('AnswerCache', () => {
  it('serves a kept answer, or its first k items, with the same ids and scores', () => {
    const cache = new AnswerCache(10, 4);
    expect(cache.get('u', basis, 3, idOf)).toBeUndefined();
    expect(cache.set('u', basis, 3, answer, rowOf)).toBe(true);
    expect(cache.get('u', { ...basis }, 3, idOf)).toEqual(answer);
    expect(cache.get('u', basis, 2, idOf)).toEqual(answer.slice(0, 2));
    expect(cache.get('u', basis, 4, idOf)).toBeUndefined();
    expect(cache.get('v', basis, 1, idOf)).toBeUndefined();
  });

  it('keeps the k asked apart from the items found: fewer items than k still answer that k', () => {
    const cache = new AnswerCache(10, 8);
    cache.set('u', basis, 6, answer, rowOf);
    expect(cache.get('u', basis, 6, idOf)).toEqual(answer);
    expect(cache.get('u', basis, 5, idOf)).toEqual(answer);
    expect(cache.get('u', basis, 7, idOf)).toBeUndefined();
  });

  it.each(Object.keys(basis) as Array<keyof AnswerBasis>)('answers anew when %s changes', (field) => {
    const cache = new AnswerCache(10, 4);
    cache.set('u', basis, 3, answer, rowOf);
    expect(cache.get('u', { ...basis, [field]: basis[field] + 1 }, 3, idOf)).toBeUndefined();
    expect(cache.get('u', basis, 3, idOf)).toEqual(answer);
  });

  it('tells no clicked item from the first row', () => {
    const cache = new AnswerCache(10, 4);
    cache.set('u', { ...basis, latestClickedRow: NO_ROW }, 3, answer, rowOf);
    expect(cache.get('u', { ...basis, latestClickedRow: 0 }, 3, idOf)).toBeUndefined();
    expect(cache.get('u', { ...basis, latestClickedRow: NO_ROW }, 3, idOf)).toEqual(answer);
  });

  it('replaces a user’s answer in place', () => {
    const cache = new AnswerCache(10, 4);
    cache.set('u', basis, 3, answer, rowOf);
    const later = { ...basis, userCount: 8 };
    cache.set('u', later, 1, [{ id: 'e', score: 2 }], rowOf);
    expect(cache.size).toBe(1);
    expect(cache.get('u', basis, 1, idOf)).toBeUndefined();
    expect(cache.get('u', later, 1, idOf)).toEqual([{ id: 'e', score: 2 }]);
    expect(cache.get('u', later, 2, idOf)).toBeUndefined();
  });

  it('does not keep an answer longer than its width, or one with an item without a row', () => {
    const cache = new AnswerCache(10, 2);
    expect(cache.set('u', basis, 3, answer, rowOf)).toBe(false);
    expect(cache.get('u', basis, 1, idOf)).toBeUndefined();
    cache.set('v', basis, 2, answer.slice(0, 2), rowOf);
    expect(cache.set('v', basis, 2, [answer[0]!, { id: 'gone', score: 1 }], rowOf)).toBe(false);
    expect(cache.get('v', basis, 1, idOf)).toBeUndefined();
  });

  it('forgets the user kept longest ago once full', () => {
    const cache = new AnswerCache(2, 4);
    cache.set('u', basis, 3, answer, rowOf);
    cache.set('v', basis, 3, answer, rowOf);
    cache.set('v', basis, 3, answer, rowOf);
    cache.set('w', basis, 3, answer, rowOf);
    expect(cache.size).toBe(2);
    expect(cache.get('u', basis, 3, idOf)).toBeUndefined();
    expect(cache.get('v', basis, 3, idOf)).toEqual(answer);
    expect(cache.get('w', basis, 3, idOf)).toEqual(answer);
    cache.set('x', basis, 1, answer.slice(2), rowOf);
    expect(cache.get('v', basis, 3, idOf)).toBeUndefined();
    expect(cache.get('w', basis, 3, idOf)).toEqual(answer);
    expect(cache.get('x', basis, 1, idOf)).toEqual(answer.slice(2));
  });

  it('keeps every answer across the growth of its arrays', () => {
    const cache = new AnswerCache(5000, 3);
    const of = (i: number) => [
      { id: idOf(i % 5), score: i },
      { id: idOf((i + 1) % 5), score: -i / 7 },
    ];
    for (let i = 0; i < 5000; i++) cache.set(`u${i}`, { ...basis, userCount: i }, 2, of(i), rowOf);
    for (let i = 0; i < 5000; i++) expect(cache.get(`u${i}`, { ...basis, userCount: i }, 2, idOf)).toEqual(of(i));
  });
});
