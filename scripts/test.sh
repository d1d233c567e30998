#!/usr/bin/env bash
# The one test command (README, CI): set up, build, run every test file with node:test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Tools the tests drive for real: wrk (load that counts every failure; it never retries), python3 (examples),
# nginx and caddy (the edge proxy suites) and openssl (a test certificate).
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v caddy >/dev/null || missing+=(caddy)
command -v openssl >/dev/null || missing+=(openssl)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "the tests need: ${missing[*]} (sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
fi
exec node --test --test-concurrency=2 --test-timeout=300000 dist/test/*.test.js
