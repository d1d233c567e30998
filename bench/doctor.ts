/**
 * bench/doctor: `berth doctor` over 200, then 1,000 running services (small HTTP servers, each with a
 * route, in apps of 100), median wall time of 5 whole CLI runs at each size.
 * Targets (issue 14): < 500 ms at 200, < 2 s at 1,000. `BENCH_SERVICES=200` runs one size.
 * The servers are `busybox httpd` (Debian's busybox-static, ~1 MiB each) when it is installed, so 1,000
 * fit in memory; `python3 -m http.server` (~20 MiB each) otherwise, or with `BENCH_SERVER=python`.
 * Run: `npm run build && node dist/bench/doctor.js`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNote, hostEnv, machine, percentile, table, workDir } from './lib.js';

const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = path.join(REPO, 'bin', 'berth.js');
const COUNTS = (process.env.BENCH_SERVICES ?? '200,1000').split(',').map(Number);
const BUSYBOX = '/usr/bin/busybox';
const SERVER =
  process.env.BENCH_SERVER !== 'python' && existsSync(BUSYBOX)
    ? { name: 'busybox httpd', run: `${BUSYBOX} httpd -f -p 127.0.0.1:$PORT -h .` }
    : { name: 'python3 -m http.server', run: 'python3 -m http.server $PORT --bind 127.0.0.1' };
const work = workDir('doctor');
const env = {
  ...hostEnv({}),
  BERTH_HOME: path.join(work, 'home'),
  BERTH_PORT_RANGE: '30000-31999',
  BERTH_HTTP_PORT: '18760',
  BERTH_HTTP_ADDRESS: '127.0.0.1',
};

function berth(args: string[], okCodes = [0]): Promise<{ ms: number; out: string }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) =>
    execFile(BIN, args, { env, maxBuffer: 1 << 26, timeout: 600_000 }, (err, out, errOut) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      if (!okCodes.includes(code)) reject(new Error(`${args.join(' ')}: exit ${code}: ${errOut || out}`));
      else resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, out });
    }),
  );
}

let apps = 0; // deployed so far, removed at the end

/** Services per app: a big host is many apps, and each deploy stays a size Berth is used at. */
const PER_APP = 100;

/** Deploys apps of PER_APP services until `total` run, each with a route. */
async function grow(from: number, total: number): Promise<number> {
  let ms = 0;
  for (let first = from; first < total; first += PER_APP) {
    const app = `many${first / PER_APP}`;
    apps = first / PER_APP + 1;
    const dir = path.join(work, app);
    mkdirSync(dir, { recursive: true });
    const services = Array.from({ length: Math.min(PER_APP, total - first) }, (_, k) => {
      const i = first + k;
      return `  s${i}:\n    run: ${SERVER.run}\n    routes: [{ host: bench.test, path: /s${i}/ }]\n`;
    }).join('');
    writeFileSync(path.join(dir, 'berth.yaml'), `app: ${app}\nservices:\n${services}`);
    writeFileSync(path.join(dir, 'index.html'), 'ok\n');
    ms += (await berth(['deploy', dir])).ms;
  }
  return ms;
}

const rows: string[][] = [];
try {
  let running = 0;
  for (const n of COUNTS) {
    const up = await grow(running, n);
    running = n;
    const runs: number[] = [];
    let findings = 0;
    for (let i = 0; i < 5; i++) {
      const r = await berth(['doctor', '--json'], [0, 1, 2]);
      runs.push(r.ms);
      findings = (JSON.parse(r.out) as { findings: unknown[] }).findings.length;
    }
    const p50 = percentile(runs, 50);
    const target = n <= 200 ? 500 : 2000;
    rows.push([
      String(n),
      up.toFixed(0),
      p50.toFixed(0),
      Math.max(...runs).toFixed(0),
      String(findings),
      `< ${target}: ${p50 < target ? 'met' : 'NOT met'}`,
    ]);
  }
} finally {
  for (let a = 0; a < apps; a++) await berth(['rm', `many${a}`, '--purge']).catch(() => undefined);
  await berth(['proxy', 'stop']).catch(() => undefined);
  await berth(['daemon', 'stop']).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
console.log(
  `${new Date().toISOString().slice(0, 10)}, ${machine()}${envNote()}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, ${SERVER.name} services with a route each, in apps of ${PER_APP}\n`,
);
console.log(
  table(['services', 'deploy ms (added)', 'doctor p50 ms', 'doctor max ms', 'findings', 'target (p50)'], rows),
);
