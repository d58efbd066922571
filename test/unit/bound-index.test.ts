import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/model/random.ts';
import { TopK } from '../../src/model/topk.ts';
import { BoundIndex, layoutCells, layoutSteps, type VectorTable } from '../../src/serve/bound-index.ts';

/** Items around shared taste directions, with biases and vector lengths spread as trained factors have. */
function world(items: number, d: number, seed: number) {
  const random = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
  const topics = Array.from({ length: 40 }, () => Float32Array.from({ length: d }, gauss));
  const around = (spread: number, length: number) => {
    const topic = topics[Math.floor(random() * topics.length)] as Float32Array;
    return Float32Array.from(topic, (x) => (x + gauss() * spread) * length);
  };
  const vectors = new Float32Array(items * d);
  const bias = new Float64Array(items);
  for (let i = 0; i < items; i++) {
    vectors.set(around(0.8, 0.05 + random() ** 3), i * d);
    bias[i] = Math.exp(gauss()) * 0.2;
  }
  const table: VectorTable = { size: items, dimensions: d, vectors, bias };
  const ids = Array.from({ length: items }, (_, row) => `i${row}`);
  return { table, ids, user: () => around(0.5, 0.3 + random()) };
}

function exact(table: VectorTable, ids: readonly string[], query: Float32Array, k: number, exclude: ReadonlySet<string>) {
  const top = new TopK(k);
  const d = table.dimensions;
  for (let row = 0; row < table.size; row++) {
    let dot = 0;
    for (let f = 0; f < d; f++) dot += (query[f] as number) * (table.vectors[row * d + f] as number);
    if (!exclude.has(ids[row] as string)) top.push(ids[row] as string, (table.bias[row] as number) + dot);
  }
  return top.result();
}

describe('bound index', () => {
  it('finds the exact top-10 while scanning a small share of the rows', () => {
    const { table, ids, user } = world(20_000, 32, 11);
    const index = new BoundIndex();
    index.rebuild(table);
    const exclude = new Set(['i1', 'i2', 'i3']);
    let scanned = 0;
    for (let q = 0; q < 100; q++) {
      const query = user();
      const top = new TopK(10);
      expect(index.search(query, table.bias, 1, ids, exclude, top)).toEqual([]);
      scanned += index.lastScanned;
      const served = top.result();
      const truth = exact(table, ids, query, 10, exclude);
      expect(served.map((s) => s.id)).toEqual(truth.map((s) => s.id));
      served.forEach((s, i) => expect(s.score).toBeCloseTo(truth[i]?.score as number, 4));
    }
    expect(scanned / 100 / table.size).toBeLessThan(0.25);
  });

  it('numbers cells from the highest bias and the longest vectors', () => {
    const { table } = world(4_000, 8, 3);
    const layout = layoutCells(table, table.bias, { biasBands: 4, normBands: 2 });
    expect(layout.cells).toBe(8);
    let top = 0;
    let low = 0;
    for (let row = 1; row < table.size; row++) {
      if ((table.bias[row] as number) > (table.bias[top] as number)) top = row;
      if ((table.bias[row] as number) < (table.bias[low] as number)) low = row;
    }
    expect(layout.cellOf[top]).toBeLessThan(2);
    expect(layout.cellOf[low]).toBeGreaterThanOrEqual(6);
    const counts = new Array<number>(8).fill(0);
    for (const cell of layout.cellOf) counts[cell] = (counts[cell] as number) + 1;
    for (let band = 0; band < 4; band++) expect((counts[2 * band] as number) + (counts[2 * band + 1] as number)).toBe(1_000);
  });

  it('bands a large table by a sample of its rows, the share of each band within 1.5 points of 1/8', () => {
    const { table } = world(100_000, 4, 9);
    const layout = layoutCells(table, table.bias, { biasBands: 8, normBands: 4 });
    const bands = new Array<number>(8).fill(0);
    for (const cell of layout.cellOf) bands[Math.floor(cell / 4)] = (bands[Math.floor(cell / 4)] as number) + 1;
    // A quantile of 16,384 sampled rows errs by about 0.26 points of share (one sigma) here.
    for (const count of bands) expect(Math.abs(count - 12_500)).toBeLessThan(1_500);
    // Highest bias first: every row of band 0 has a higher bias than every row of band 7.
    let lowestOfTop = Infinity;
    let highestOfBottom = -Infinity;
    for (let row = 0; row < table.size; row++) {
      const cell = layout.cellOf[row] as number;
      if (cell < 4) lowestOfTop = Math.min(lowestOfTop, table.bias[row] as number);
      if (cell >= 28) highestOfBottom = Math.max(highestOfBottom, table.bias[row] as number);
    }
    expect(lowestOfTop).toBeGreaterThan(highestOfBottom);
  });

  it('bands rows that alternate between two kinds by both kinds', () => {
    // Even rows are fresh (low, equal biases), odd rows spread: a sample of every other row would
    // see only the fresh ones and put every spread row in the top band.
    const size = 32_768;
    const random = seededRandom(21);
    const bias = Float64Array.from({ length: size }, (_, row) => (row % 2 === 0 ? -1 : random()));
    const vectors = Float32Array.from({ length: size * 4 }, () => random());
    const layout = layoutCells({ size, dimensions: 4, vectors }, bias, { biasBands: 8, normBands: 1 });
    const top = layout.cellOf.filter((cell) => cell === 0).length;
    expect(Math.abs(top / size - 1 / 8)).toBeLessThan(0.015);
  });

  it('lays out in steps, reading the vectors the table holds at each step', () => {
    const { table } = world(40_000, 4, 13);
    const options = { biasBands: 2, normBands: 2 };
    const live = { ...table };
    const steps = layoutSteps(live, table.bias, options);
    expect(steps.next().done).toBe(false);
    // After the first step (rows 0-16,383) the table grows its storage: rows from 16,384 on are
    // now 1,000 times longer than any before, and only the new array holds them.
    live.vectors = table.vectors.map((x, i) => (i >= 16_384 * 4 ? x * 1_000 : x));
    let result = steps.next();
    let count = 2;
    for (; result.done !== true; result = steps.next()) count++;
    // Three steps measure the rows and three place them (40,000 rows, 16,384 a step), then the result.
    expect(count).toBe(7);
    const layout = result.value;
    // The rows before the swap are the same in both arrays: the steps saw the final table.
    expect(layout).toEqual(layoutCells(live, table.bias, options));
    // Cell parity is the length band, longest first: no row before 16,384 is in the long band.
    const long = [...layout.cellOf.keys()].filter((row) => (layout.cellOf[row] as number) % 2 === 0);
    expect(long.length).toBeGreaterThan(15_000);
    expect(Math.min(...long)).toBeGreaterThanOrEqual(16_384);
  });

  it('finds a changed row by its new vector, though it outgrew its cell, and hands back new rows', () => {
    const { table, ids, user } = world(3_000, 8, 5);
    const index = new BoundIndex({ biasBands: 16, normBands: 8 });
    index.rebuild(table);
    const query = user();
    // Row 7 now points the query's way, ten times longer than any vector it was laid out with.
    const norm = Math.hypot(...query);
    table.vectors.set(query.map((x) => (x / norm) * 100), 7 * 8);
    index.update(table, 7);
    const top = new TopK(3);
    index.search(query, table.bias, 1, ids, new Set(), top);
    expect(top.result()[0]).toEqual({ id: 'i7', score: expect.closeTo((table.bias[7] as number) + norm * 100, 2) });

    const grown: VectorTable = { ...table, size: 3_001, vectors: new Float32Array(3_001 * 8), bias: new Float64Array(3_001) };
    grown.vectors.set(table.vectors);
    grown.bias.set(table.bias);
    index.update(grown, 3_000);
    index.update(grown, 3_000);
    expect(index.joined).toBe(1);
    expect(index.search(query, grown.bias, 2, [...ids, 'i3000'], new Set(), new TopK(3))).toEqual([3_000]);
  });

  it('scans a cell whose dot products can overflow float32, whatever its bound', () => {
    const d = 4;
    const vectors = Float32Array.from([1, 0, 0, 0, 3e19, 0, 0, 0]);
    const table: VectorTable = { size: 2, dimensions: d, vectors, bias: Float64Array.from([1e39, 0]) };
    const index = new BoundIndex({ biasBands: 2, normBands: 1 });
    index.rebuild(table);
    const top = new TopK(1);
    index.search(Float32Array.from([3e19, 0, 0, 0]), table.bias, 1, ['rich', 'big'], new Set(), top);
    expect(top.result()).toEqual([{ id: 'big', score: Infinity }]);
  });
});
