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

/**
 * The C allocator's settings of the engine process, set in its environment by the same launchers.
 *
 * - Blocks of 128 KiB and more mapped apart and returned on free: glibc otherwise raises that
 *   threshold to the largest block freed so far (up to 32 MiB), and a Kafka fetch's response
 *   (megabytes) then comes from its main heap, which only ever grew. Ingesting a week of events,
 *   that heap went from 105 to 160 MiB after the first 200,000 events, and the engine's RSS ended
 *   56–74 MiB lower with the setting (two runs, against three without), at the same rate.
 *
 * Ignored by other C libraries (musl, in Alpine images).
 */
export const ENGINE_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };
