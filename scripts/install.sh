#!/usr/bin/env bash
# Installs Berth from this checkout and puts `berth` on PATH (npm link).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm link --no-audit --no-fund --loglevel=error >/dev/null
echo "berth $(node bin/berth.js --version) installed: try 'berth up examples/hello' then 'berth ps'"
