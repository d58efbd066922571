// Lays out the bound index's cells off the main thread, so that serving never stalls on the sorts.
import { parentPort } from 'node:worker_threads';
import { layoutCells, type BoundIndexOptions, type VectorTable } from './bound-index.ts';

parentPort?.once('message', (message: { table: VectorTable; options: BoundIndexOptions }) => {
  const layout = layoutCells(message.table, message.table.bias, message.options);
  parentPort?.postMessage(layout, [layout.cellOf.buffer as ArrayBuffer]);
});
