#!/usr/bin/env bash
# The dashboard's pictures in docs/ (README): test/dashboard and test/dashboard-backups drive Chromium through its
# views and, with BERTH_SCREENSHOTS=1, save each as docs/dashboard-<view>.png (the metrics view after half a minute
# of real requests at a changing rate; the backups view with a verified snapshot). Not part of `npm test`. Run it
# as the tests are run (root, Debian's chromium); in a private network namespace when other tests may be using the
# same ports.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
BERTH_SCREENSHOTS=1 exec node --test --test-concurrency=1 dist/test/dashboard.test.js dist/test/dashboard-backups.test.js
