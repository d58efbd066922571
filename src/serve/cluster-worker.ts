// Fits item clusters off the main thread, so that serving never stalls on k-means.
import { parentPort } from 'node:worker_threads';
import { fitClusters, type ClusterIndexOptions, type VectorTable } from './cluster-index.ts';

parentPort?.once('message', (message: { table: VectorTable; options: ClusterIndexOptions }) => {
  const fit = fitClusters(message.table, message.options);
  parentPort?.postMessage(fit, [fit.centroids.buffer as ArrayBuffer, fit.assignment.buffer as ArrayBuffer]);
});
