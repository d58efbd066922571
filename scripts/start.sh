#!/usr/bin/env bash
# `npm start`: the engine on embedded defaults unless the environment names
# Kafka, Redis or ClickHouse. Arguments after `npm start --` go to `freshet run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/ensure-deps.sh
# V8 and C allocator settings of the engine process: see src/node-flags.ts.
export MALLOC_MMAP_THRESHOLD_=131072
exec node --min-semi-space-size=64 --no-memory-reducer src/cli.ts run "$@"
