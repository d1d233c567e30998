#!/usr/bin/env bash
# The one test command (README, CI): set up, build, run every test file with node:test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --test --test-concurrency=2 --test-timeout=300000 dist/test/*.test.js
