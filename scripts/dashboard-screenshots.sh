#!/usr/bin/env bash
# The dashboard's pictures in docs/ (README): test/dashboard drives Chromium through its views and, with
# BERTH_SCREENSHOTS=1, saves each as docs/dashboard-<view>.png. Not part of `npm test`. Run it as the tests are run
# (root, Debian's chromium); in a private network namespace when other tests may be using the same ports.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
BERTH_SCREENSHOTS=1 exec node --test --test-concurrency=1 dist/test/dashboard.test.js
