#!/usr/bin/env bash
# `npm test`: the whole suite. Installs and starts the servers the integration
# tests need (scripts/services.sh: Redis, ClickHouse, Kafka, Prometheus on
# loopback), type-checks, runs every test on Node.js 24, the unit tests again on
# Node.js 26, and stops the servers it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/ensure-deps.sh

echo "freshet: node $(node --version), type-checking" >&2
tsc --noEmit -p tsconfig.json

bash scripts/services.sh install
# Servers that were already running (a developer's) are left running; the ones started here stop.
if ! bash scripts/services.sh status >/dev/null 2>&1; then
  trap 'bash scripts/services.sh stop >&2 || true' EXIT
fi
bash scripts/services.sh start
# shellcheck disable=SC1091
. "${FRESHET_SERVICES_DIR:-/tmp/freshet-services}/env"

# A current ClickHouse, in process, proves the SQL beyond Debian's 18.16 (kept out of
# package.json: it is ~540 MB that `npm start` does not need).
export FRESHET_CHDB_DIR="${FRESHET_CHDB_DIR:-$HOME/.cache/freshet/chdb}"
if [ ! -f "$FRESHET_CHDB_DIR/node_modules/chdb/index.mjs" ]; then
  echo "freshet: installing chdb (a current ClickHouse) for the SQL compatibility test" >&2
  mkdir -p "$FRESHET_CHDB_DIR"
  npm install --prefix "$FRESHET_CHDB_DIR" --no-audit --no-fund --loglevel=error chdb@3.4.0 >&2
fi

reports="$(mktemp -d)"
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$reports/node24.json" "$@" || status=$?

if [ "${FRESHET_SKIP_NODE26:-}" != 1 ] && [ $# -eq 0 ]; then
  node26_dir="${FRESHET_NODE26_DIR:-$HOME/.cache/freshet/node26}"
  if [ ! -x "$node26_dir/node_modules/.bin/node" ]; then
    echo "freshet: installing Node.js 26 for the second test run" >&2
    mkdir -p "$node26_dir"
    npm install --prefix "$node26_dir" --no-audit --no-fund --loglevel=error node@26 >&2
  fi
  echo "freshet: unit tests on node $("$node26_dir/node_modules/.bin/node" --version)" >&2
  "$node26_dir/node_modules/.bin/node" node_modules/vitest/vitest.mjs run --project unit \
    --reporter=default --reporter=json --outputFile.json="$reports/node26.json" || status=$?
fi
node scripts/test-summary.mjs "$reports"/*.json
exit "$status"
