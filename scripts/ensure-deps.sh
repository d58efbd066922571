# Sourced by scripts/start.sh and scripts/test.sh: installs the npm dependencies
# (which include the Node.js 24 binary) on a fresh checkout, and puts them first
# on PATH so that `node` is Node.js 24 whatever the system has.
if [ ! -x node_modules/.bin/node ] || [ ! -x node_modules/.bin/vitest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "freshet: installing dependencies (npm ci)..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
export PATH="$PWD/node_modules/.bin:$PATH"
