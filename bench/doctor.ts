/**
 * bench/doctor: `berth doctor` over 200 running services (small Python HTTP servers, each
 * with a route), median wall time of 5 whole CLI runs. Target: < 1 s.
 * Run: `npm run build && node dist/bench/doctor.js`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, percentile, table, workDir } from './lib.js';

const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = path.join(REPO, 'bin', 'berth.js');
const N = Number(process.env.BENCH_SERVICES ?? 200);
const work = workDir('doctor');
const env = {
  ...process.env,
  BERTH_HOME: path.join(work, 'home'),
  BERTH_PORT_RANGE: '27000-27999',
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

try {
  const dir = path.join(work, 'app');
  mkdirSync(dir, { recursive: true });
  const services = Array.from(
    { length: N },
    (_, i) =>
      `  s${i}:\n    run: python3 -m http.server $PORT --bind 127.0.0.1\n    routes: [{ host: bench.test, path: /s${i}/ }]\n`,
  ).join('');
  writeFileSync(path.join(dir, 'berth.yaml'), `app: many\nservices:\n${services}`);
  const up = await berth(['deploy', dir]);
  const runs: number[] = [];
  let findings = 0;
  for (let i = 0; i < 5; i++) {
    const r = await berth(['doctor', '--json'], [0, 1, 2]);
    runs.push(r.ms);
    findings = (JSON.parse(r.out) as { findings: unknown[] }).findings.length;
  }
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${machine()}, ${N} services (python3 -m http.server), ${N} routes\n`,
  );
  console.log(
    table(
      ['measure', 'ms'],
      [
        [`deploy of ${N} services`, up.ms.toFixed(0)],
        ['berth doctor, median of 5', percentile(runs, 50).toFixed(0)],
        ['berth doctor, slowest of 5', Math.max(...runs).toFixed(0)],
      ],
    ),
  );
  console.log(`\nfindings: ${findings}; target < 1000 ms: ${percentile(runs, 50) < 1000 ? 'met' : 'NOT met'}`);
} finally {
  await berth(['rm', 'many', '--purge']).catch(() => undefined);
  await berth(['proxy', 'stop']).catch(() => undefined);
  await berth(['daemon', 'stop']).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
