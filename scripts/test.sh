#!/usr/bin/env bash
# The one test command (README, CI): set up, build, run every test file with node:test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh bash scripts/lint.sh # the build, and the lint beside it (Prettier, ESLint)
# Tools the tests drive for real: wrk (load that counts every failure; it never retries), python3 (examples),
# nginx and caddy (the edge proxy suites), openssl (a test certificate), git (branches and snapshots),
# curl and ip (the ACME test runs a CA and Berth in a network namespace), chromium (the dashboard, driven by playwright-core),
# systemd-analyze (test/daemon-install verifies berthd's unit with it; Debian's systemd package),
# dockerd (test/containers starts a private one: Debian's docker.io), podman (test/containers-podman: its
# Docker-compatible service) and a static busybox (their images, FROM scratch).
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v caddy >/dev/null || missing+=(caddy)
command -v openssl >/dev/null || missing+=(openssl)
command -v python3 >/dev/null || missing+=(python3)
command -v git >/dev/null || missing+=(git)
command -v curl >/dev/null || missing+=(curl)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || missing+=(iproute2)
command -v chromium >/dev/null || missing+=(chromium)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v podman >/dev/null || missing+=(podman)
# test/image-pull runs a registry (Debian's docker-registry) with a bcrypt htpasswd file (apache2-utils' htpasswd).
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
# test/backup stores snapshots with restic, one repository served by `rclone serve restic`.
command -v restic >/dev/null || missing+=(restic)
command -v rclone >/dev/null || missing+=(rclone)
# test/databases runs managed PostgreSQL 15 and Redis 7 from Debian's packages.
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
command -v redis-server >/dev/null || missing+=(redis-server)
# test/alerts delivers e-mail to Debian's aiosmtpd (run by the system's python3).
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
# test/metrics scrapes berthd with a real Prometheus (Debian's prometheus).
command -v prometheus >/dev/null || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "the tests need: ${missing[*]} (sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
fi
# test/import-processes reads a live PM2 (`berth import pm2 --running`): PM2 7 from npm, where the benchmarks keep it.
[ -x bench/.pm2/node_modules/.bin/pm2 ] ||
  npm install --prefix bench/.pm2 --no-audit --no-fund --loglevel=error pm2@7 >/dev/null
# test/init deploys its Vite fixture, test/init-next its Next.js one (next, react, react-dom and the
# @next/swc and sharp binaries of this platform), test/init-cra its Create React App one (react-scripts 5
# and its ~1300 packages): their packages come from npm once, into npm's cache in .berth-npm-cache
# (gitignored), which the tests give their builds as the environment's npm cache.
for kind in vite next cra; do
  mark=".berth-npm-cache/.$kind-$(sha256sum "test/fixtures/init/$kind/package-lock.json" | cut -c1-16)"
  [ -e "$mark" ] && continue
  tmp=$(mktemp -d) && cp "test/fixtures/init/$kind/package.json" "test/fixtures/init/$kind/package-lock.json" "$tmp"
  npm ci --prefix "$tmp" --cache "$PWD/.berth-npm-cache" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  touch "$mark" && rm -rf "$tmp"
done
# Without the machine's NODE_EXTRA_CA_CERTS, if it has one (a default host has none; no test reaches a public TLS
# server, and test/alerts-smtp sets its own CA): with Debian's bundle every Node process the tests start (each CLI
# call, berthd, the fixtures' servers: thousands) parsed it first, ~0.1 s of CPU each on this machine.
unset NODE_EXTRA_CA_CERTS
# Three files at once on two cores: most of a test's time is spent waiting on the processes,
# engines and proxies it drives (the container files most), so a third file keeps the cores busy.
exec node --test --test-concurrency=3 --test-timeout=300000 dist/test/*.test.js
