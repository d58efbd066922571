#!/usr/bin/env bash
# `npm run bench`: starts the servers the tests use (if not running), runs the
# benchmark, and stops the servers it started. Arguments go to bench/run.ts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/ensure-deps.sh
bash scripts/services.sh install
if ! bash scripts/services.sh status >/dev/null 2>&1; then
  trap 'bash scripts/services.sh stop >&2 || true' EXIT
fi
bash scripts/services.sh start
# shellcheck disable=SC1091
. "${FRESHET_SERVICES_DIR:-/tmp/freshet-services}/env"
node bench/run.ts "$@"
