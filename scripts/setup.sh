#!/usr/bin/env bash
# Installs Berth's dependencies and builds it. Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_major=20
have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have" -lt "$need_major" ]; then
  echo "Berth needs Node.js >= $need_major (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "On Debian/Ubuntu: install it from NodeSource or your distribution's backports, then run this again." >&2
  exit 1
fi
if ! command -v make >/dev/null || ! command -v g++ >/dev/null || ! command -v cc >/dev/null || ! command -v python3 >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq build-essential python3 >/dev/null
  else
    echo "better-sqlite3 and the log writer (C) compile from source: install build-essential and python3 (sudo apt-get install -y build-essential python3)" >&2
    exit 1
  fi
fi
# The tests' Django app (release hooks, berth run) needs Django for the system python3 (apps get the standard PATH);
# test/init deploys FastAPI, Flask and Django apps on Debian's uvicorn, flask and gunicorn.
if ! /usr/bin/python3 -c 'import django, fastapi, uvicorn, flask, gunicorn' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-django python3-fastapi python3-uvicorn python3-flask gunicorn >/dev/null
  else
    echo "the tests need Debian's python3-django, python3-fastapi, python3-uvicorn, python3-flask, gunicorn: sudo apt-get install -y python3-django python3-fastapi python3-uvicorn python3-flask gunicorn" >&2
  fi
fi
# Jobs that run beside the build, each with its output in a file printed when it ends: a failed one fails setup.
logs=$(mktemp -d)
trap 'jobs -p | xargs -r kill 2>/dev/null || true; rm -rf "$logs"' EXIT
pids=()
names=()
beside() {
  "$@" >"$logs/${#pids[@]}" 2>&1 &
  pids+=($!)
  names+=("$*")
}
sqlite=node_modules/better-sqlite3/build/Release/better_sqlite3.node
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -f "$sqlite" ]; then
  # The packages' files first, their install scripts after: better-sqlite3 compiles SQLite (minutes on one core), which
  # the TypeScript build does not need, so it runs beside the build. esbuild's own check runs before the build uses it.
  # A package with another install script stops this, so none is skipped unknowingly. Until better-sqlite3 has built,
  # the next setup installs again (its check above).
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  other=$(node scripts/install-scripts.mjs | grep -vxE 'better-sqlite3|esbuild' || true)
  if [ -n "$other" ]; then
    echo "scripts/setup.sh does not run the install scripts of: $other (add them to its npm rebuild)" >&2
    exit 1
  fi
  npm rebuild esbuild --loglevel=error
  beside npm rebuild better-sqlite3 --loglevel=error
fi
# scripts/test.sh passes the lint, which reads the sources only, to run beside the build too.
[ $# -gt 0 ] && beside "$@"
npm run --silent build
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { failed=1; echo "failed: ${names[$i]}" >&2; }
  cat "$logs/$i"
done
[ "$failed" = 0 ]
