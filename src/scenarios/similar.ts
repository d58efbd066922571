import { TopK, type Scored } from '../model/topk.ts';

/** The slice of the in-process item index that similarity reads. */
export interface VectorTable {
  readonly ids: readonly string[];
  readonly vectors: Float32Array;
  readonly size: number;
  readonly dimensions: number;
  position(itemId: string): number | undefined;
}

/**
 * Items closest, by cosine, to the sum of the unit vectors of `itemIds`: one
 * pass over the table for any number of query items. The query items
 * themselves and unknown ids are left out.
 */
export function similarToItems(
  table: VectorTable,
  itemIds: readonly string[],
  k: number,
): Scored[] {
  const d = table.dimensions;
  const query = new Float64Array(d);
  const rows = new Set<number>();
  for (const id of itemIds) {
    const row = table.position(id);
    if (row === undefined || rows.has(row)) continue;
    rows.add(row);
    let norm = 0;
    for (let f = 0; f < d; f++) norm += (table.vectors[row * d + f] as number) ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let f = 0; f < d; f++)
      query[f] = (query[f] as number) + (table.vectors[row * d + f] as number) / norm;
  }
  if (rows.size === 0) return [];
  const queryNorm = Math.sqrt(query.reduce((s, x) => s + x * x, 0)) || 1;

  const top = new TopK(k);
  for (let row = 0; row < table.size; row++) {
    if (rows.has(row)) continue;
    let dot = 0;
    let norm = 0;
    const base = row * d;
    for (let f = 0; f < d; f++) {
      const x = table.vectors[base + f] as number;
      dot += (query[f] as number) * x;
      norm += x * x;
    }
    // A zero vector (an expired item) points nowhere: similar to nothing.
    if (norm === 0) continue;
    top.push(table.ids[row] as string, dot / (queryNorm * Math.sqrt(norm)));
  }
  return top.result();
}
