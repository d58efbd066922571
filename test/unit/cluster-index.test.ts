import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/model/random.ts';
import { TopK } from '../../src/model/topk.ts';
import { ClusterIndex, type VectorTable } from '../../src/serve/cluster-index.ts';

/** Items and users drawn around shared taste directions, like trained factors. */
function world(items: number, d: number, seed: number) {
  const random = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
  const topics = Array.from({ length: 40 }, () => Float32Array.from({ length: d }, gauss));
  const around = (scale: number) => {
    const topic = topics[Math.floor(random() * topics.length)] as Float32Array;
    return Float32Array.from(topic, (x) => x + gauss() * scale);
  };
  const vectors = new Float32Array(items * d);
  const bias = new Float64Array(items);
  for (let i = 0; i < items; i++) {
    vectors.set(around(0.8), i * d);
    bias[i] = gauss() * 0.5;
  }
  const table: VectorTable = { size: items, dimensions: d, vectors, bias };
  return { table, user: () => around(0.5) };
}

function exact(table: VectorTable, query: Float32Array, rows: Iterable<number>, k: number): string[] {
  const top = new TopK(k);
  const d = table.dimensions;
  for (const row of rows) {
    let score = table.bias[row] as number;
    for (let f = 0; f < d; f++) score += (query[f] as number) * (table.vectors[row * d + f] as number);
    top.push(String(row), score);
  }
  return top.result().map((s) => s.id);
}

describe('cluster index', () => {
  it('finds at least 95% of the exact top-10 while scanning a small share of the items', () => {
    const { table, user } = world(20_000, 32, 11);
    const index = new ClusterIndex({ clusters: 128, probes: 16, head: 256 });
    index.rebuild(table);
    const all = Array.from({ length: table.size }, (_, r) => r);
    let found = 0;
    let scanned = 0;
    for (let q = 0; q < 100; q++) {
      const query = user();
      const candidates = index.candidates(query);
      scanned += candidates.length;
      const truth = exact(table, query, all, 10);
      const approx = new Set(exact(table, query, candidates, 10));
      found += truth.filter((id) => approx.has(id)).length;
    }
    expect(found / 1000).toBeGreaterThanOrEqual(0.95);
    expect(scanned / 100 / table.size).toBeLessThan(0.25);
  });

  it('keeps an updated row in its fitted cluster, scored with its new vector, and places new rows in the nearest', () => {
    const { table } = world(2_000, 8, 3);
    const index = new ClusterIndex({ clusters: 16, probes: 1, head: 0 });
    index.rebuild(table);
    const d = 8;
    const before = table.vectors.slice(5 * d, 6 * d);
    const target = Float32Array.from({ length: d }, (_, f) => (f === 0 ? 50 : 0));
    table.vectors.set(target, 5 * d);
    index.update(table, 5);
    // Found through the cluster of its old vector, with the score of its new one.
    expect(index.candidates(before)).toContain(5);
    const ids = Array.from({ length: 2_001 }, (_, row) => String(row));
    const top = new TopK(2_001);
    index.search(before, new Float64Array(2_001), 0, ids, new Set(), top);
    const expected = before.reduce((sum, x, f) => sum + x * (target[f] as number), 0);
    expect(top.result().find((s) => s.id === '5')?.score).toBeCloseTo(expected, 3);
    expect(index.joined).toBe(0);

    const grown: VectorTable = { ...table, size: 2_001, vectors: new Float32Array(2_001 * d), bias: new Float64Array(2_001) };
    grown.vectors.set(table.vectors);
    grown.vectors.set(target, 2_000 * d);
    index.update(grown, 2_000);
    expect(index.candidates(target)).toContain(2_000);
    expect(index.joined).toBe(1);
    // A new row has no packed copy: search hands it back to be scored from the table.
    expect(index.search(target, new Float64Array(2_001), 0, ids, new Set(), new TopK(10))).toContain(2_000);
  });

  it('always offers the items with the highest bias', () => {
    const { table, user } = world(3_000, 8, 5);
    table.bias[42] = 100;
    const index = new ClusterIndex({ clusters: 32, probes: 1, head: 10 });
    index.rebuild(table);
    expect(index.candidates(user())).toContain(42);
  });

  it('keeps the head at most twice its size while biases rise past its floor', () => {
    const { table, user } = world(3_000, 8, 6);
    const index = new ClusterIndex({ clusters: 32, probes: 1, head: 10 });
    index.rebuild(table);
    for (let row = 0; row < 1_000; row++) {
      table.bias[row] = 10 + row / 1000;
      index.update(table, row);
    }
    expect(index.headRows.length).toBeLessThanOrEqual(20);
    // The highest biases made it in, and every query is offered them.
    expect(index.headRows).toContain(999);
    expect(index.candidates(user())).toContain(999);
  });
});
