import { describe, expect, it } from 'vitest';
import { committedModuleText, KERNELS, kernelModuleText } from '../../scripts/build-kernel.ts';
import { GrowableItemMatrix } from '../../src/model/item-matrix.ts';
import { DEFAULT_MODEL_PARAMS } from '../../src/model/params.ts';
import { seededRandom } from '../../src/model/random.ts';
import { dotAt, Scorer } from '../../src/model/scoring.ts';
import { VectorArena } from '../../src/model/vector-arena.ts';

function fill(values: Float32Array, random: () => number): void {
  for (let i = 0; i < values.length; i++) values[i] = random() * 2 - 1;
}

describe('the SIMD scoring kernel', () => {
  for (const kernel of KERNELS) {
    it(`${kernel.target} is the compiled ${kernel.source}`, async () => {
      expect(committedModuleText(kernel)).toBe(await kernelModuleText(kernel));
    });
  }

  // 64 and 32 take the eight-float steps only; 12 adds a four-float step; 7, 5 and 1 the
  // one-float tail; 3 the tail alone.
  for (const d of [64, 32, 12, 7, 5, 3, 1]) {
    it(`matches the JavaScript dot product for rows of ${d} floats, listed or all`, () => {
      const random = seededRandom(d);
      const rows = 300;
      const arena = new VectorArena(d, rows);
      fill(arena.vectors, random);
      const query = new Float32Array(d);
      fill(query, random);
      const listed = [299, 0, 17, 17, 150];
      const some = arena.dots(query, listed, listed.length);
      listed.forEach((row, i) => {
        expect(some[i]).toBeCloseTo(dotAt(query, 0, arena.vectors, row * d, d), 5);
      });
      const all = arena.dots(query, undefined, rows);
      for (let row = 0; row < rows; row++) {
        expect(all[row]).toBeCloseTo(dotAt(query, 0, arena.vectors, row * d, d), 5);
      }
    });
  }

  for (const d of [32, 7]) {
    it(`scans a range of ${d}-float rows: bias plus dot, only the rows above the floor, in order`, () => {
      const random = seededRandom(40 + d);
      const rows = 500;
      const arena = new VectorArena(d, rows);
      fill(arena.vectors, random);
      for (let row = 0; row < rows; row++) arena.biases[row] = random() * 4 - 2;
      const query = new Float32Array(d);
      fill(query, random);
      const score = (row: number) => (arena.biases[row] as number) + (arena.dots(query, [row], 1)[0] as number);
      const all: Array<[number, number]> = [];
      arena.scan(query, 100, 400, -Infinity, (row, s) => all.push([row, s]));
      expect(all.map(([row]) => row)).toEqual(Array.from({ length: 300 }, (_, i) => 100 + i));
      for (const [row, s] of all) expect(s).toBe(score(row));

      const floor = [...all.map(([, s]) => s)].sort((a, b) => b - a)[20] as number;
      const above: number[] = [];
      arena.scan(query, 100, 400, floor, (row, s) => {
        expect(s).toBeGreaterThan(floor);
        above.push(row);
      });
      expect(above).toEqual(all.filter(([, s]) => s > floor).map(([row]) => row));
      expect(above).toHaveLength(20);
    });
  }

  it('scans nothing for an empty range, and refuses rows past the table and short queries', () => {
    const arena = new VectorArena(4, 10);
    expect(() => arena.scan(new Float32Array(3), 0, 1, -Infinity, () => undefined)).toThrow(/a query of 3 floats for rows of 4/);
    expect(() => arena.dots(new Float32Array(3), undefined, 1)).toThrow(/a query of 3 floats for rows of 4/);
    const seen: number[] = [];
    arena.scan(new Float32Array(4), 5, 5, -Infinity, (row) => seen.push(row));
    expect(seen).toEqual([]);
    expect(() => arena.scan(new Float32Array(4), 0, 11, -Infinity, () => undefined)).toThrow(/rows 0 to 11 asked of an arena of 10/);
  });

  it('keeps its rows when it grows, and refuses more rows than it holds', () => {
    const d = 16;
    const arena = new VectorArena(d, 4);
    fill(arena.vectors, seededRandom(1));
    const before = arena.vectors.slice();
    arena.grow(100_000);
    expect(arena.vectors.length).toBe(100_000 * d);
    expect(arena.vectors.subarray(0, before.length)).toEqual(before);
    expect(() => arena.dots(new Float32Array(d), undefined, 100_001)).toThrow(/100001 rows asked of an arena of 100000/);
  });

  it('ranks a growing item matrix as exact double-precision scoring does', () => {
    const d = DEFAULT_MODEL_PARAMS.dimensions;
    const random = seededRandom(5);
    const matrix = new GrowableItemMatrix(d, 2);
    for (let i = 0; i < 5_000; i++) {
      const vec = new Float32Array(d);
      fill(vec, random);
      matrix.upsert(`i${i}`, { vec, bias: random(), ts: 0, views: 0, clicks: 0 });
    }
    const user = new Float32Array(d);
    fill(user, random);
    const scorer = new Scorer(DEFAULT_MODEL_PARAMS);
    const aged = new Float64Array(matrix.size);
    scorer.agedBiases(matrix, 0, aged);
    const served = scorer.rankAged(user, matrix, aged, 10, new Set(['i1']));
    const exact = scorer.rank(user, matrix, 0, 10, new Set(['i1']));
    expect(served.map((s) => s.id)).toEqual(exact.map((s) => s.id));
    served.forEach((s, i) => expect(s.score).toBeCloseTo(exact[i]?.score as number, 4));
  });
});
