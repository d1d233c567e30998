#!/usr/bin/env bash
# Builds Berth's C parts into dist/ (part of `npm run build`): the log writer every instance's output goes through,
# cgroup-exec, which puts an instance with `resources:` into its cgroups before it runs, and the launcher that starts both.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null; then
  echo "Berth's native helpers (src/native/*.c) need a C compiler: install build-essential (sudo apt-get install -y build-essential), then run npm run build again." >&2
  exit 1
fi
mkdir -p dist/src/native
# Into a temporary name, then renamed: a writer starting meanwhile runs the old binary or the new one, never half of one.
for tool in log-writer cgroup-exec launcher; do
  extra=()
  [ "$tool" = launcher ] && extra=(src/native/listen-table.c) # its "L" request
  "$CC" -Wall -Wextra -O2 -o "dist/src/native/$tool.tmp" "src/native/$tool.c" "${extra[@]}"
  mv -f "dist/src/native/$tool.tmp" "dist/src/native/$tool"
done
