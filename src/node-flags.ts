/**
 * V8 settings the engine process (`freshet run`) starts with: `npm start` (scripts/start.sh),
 * the container image (Dockerfile), and the engines the tests and the benchmark start. Node
 * takes them on its command line only, not from NODE_OPTIONS; test/unit/node-flags.test.ts
 * checks that each launcher passes them.
 *
 * - A young generation of at least 2 × 64 MiB. V8 shrinks it when allocation slows (after a
 *   backlog is drained, say), and while it grows back every scavenge promotes the objects of
 *   requests in flight: serving 2,000 requests/s after an ingest, a 4–32 MiB young generation
 *   ran about 80 scavenges and 9 full collections in 20 s, and each full collection held the
 *   event loop 5–13 ms, which is the recommendations' p99.
 * - No memory reducer: it collects and shrinks the heap when the process looks idle, so the
 *   heap then regrows through more full collections once requests come.
 *
 * The price: the process keeps the memory its load needed instead of returning it while idle.
 */
export const ENGINE_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=64', '--no-memory-reducer'];
