#!/usr/bin/env bash
# Builds Berth's C parts into dist/ (part of `npm run build`): the log writer every instance's output goes through.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null; then
  echo "Berth's log writer (src/native/log-writer.c) needs a C compiler: install build-essential (sudo apt-get install -y build-essential), then run npm run build again." >&2
  exit 1
fi
mkdir -p dist/src/native
# Into a temporary name, then renamed: a writer starting meanwhile runs the old binary or the new one, never half of one.
"$CC" -Wall -Wextra -O2 -o dist/src/native/log-writer.tmp src/native/log-writer.c
mv -f dist/src/native/log-writer.tmp dist/src/native/log-writer
