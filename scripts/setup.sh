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
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
