#!/usr/bin/env bash
# Layout and lint, part of the tests (scripts/test.sh runs this beside the build): Prettier decides the layout,
# ESLint's type-aware rules catch a dropped promise. Reads the sources only, so it needs the packages, not the build.
set -euo pipefail
cd "$(dirname "$0")/.."
npx --no-install prettier --check src test bench ui eslint.config.js
npx --no-install eslint src test bench
