/**
 * bench/rebuild: a redeploy of a ForgeTrace-like app (seed 001: a Python API with its
 * requirements.txt in backend/, an SPA built in frontend/) after a Python-only change, with the
 * build cache (the default) and with `--no-cache`. Target: the SPA build is skipped, deploy < 3 s.
 * The SPA build is a stand-in (no registry here for vite): a Node script that burns
 * BENCH_SPA_MS of CPU (default 3000; seed 001's `vite build` took 8-14 s) and writes dist/.
 * pip installs a wheel made here (PIP_NO_INDEX, PIP_FIND_LINKS). Reports wall time, the CPU of
 * berthd and of what it ran (its waited-for children: pip, the builds), and the load average.
 * Run: `npm run build && node dist/bench/rebuild.js`; `BENCH_REPO=/other/checkout` runs that checkout's berth.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeWheel } from '../test/helpers/wheel.js';
import { envNote, hostEnv, loadAverage, machine, percentile, table, timedCommand, workDir } from './lib.js';

const REPO = path.resolve(process.env.BENCH_REPO ?? fileURLToPath(new URL('../..', import.meta.url)));
const BIN = path.join(REPO, 'bin', 'berth.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SPA_MS = Number(process.env.BENCH_SPA_MS ?? 3000);
const work = workDir('rebuild');
const env = {
  ...hostEnv({}),
  BERTH_HOME: path.join(work, 'home'),
  BERTH_PORT_RANGE: '29300-29398',
  BERTH_HTTP_PORT: '29399',
  BERTH_HTTP_ADDRESS: '127.0.0.1',
};
const berth = (args: string[]) => timedCommand(BIN, args, env);

const SERVER = (v: number) => `import http.server, os, tinydep
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path == "/health" else b"v${v} %d" % tinydep.VALUE
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`;
const SPA_BUILD = `import { mkdirSync, writeFileSync } from 'node:fs';
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
let x = 0;
while (cpu() < ${SPA_MS}) for (let i = 0; i < 1e5; i++) x = (x * 31 + 7) % 1000003;
mkdirSync('dist', { recursive: true });
writeFileSync('dist/index.html', '<div id="app">' + x + '</div>');
`;

/** CPU of berthd and of its waited-for children (pip, builds), ms: /proc/<pid>/stat utime, stime, cutime, cstime. */
function treeCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / 100;
}

try {
  const dir = path.join(work, 'forgetrace');
  const wheels = path.join(work, 'wheels');
  makeWheel(wheels);
  mkdirSync(path.join(dir, 'backend'), { recursive: true });
  mkdirSync(path.join(dir, 'frontend'), { recursive: true });
  writeFileSync(path.join(dir, 'backend', 'requirements.txt'), 'tinydep\n');
  writeFileSync(path.join(dir, 'frontend', 'build.mjs'), SPA_BUILD);
  writeFileSync(
    path.join(dir, 'berth.yaml'),
    `app: forgetrace\nservices:\n  backend:\n    run: [python, server.py]\n    cwd: backend\n    env: { PIP_NO_INDEX: "1", PIP_FIND_LINKS: "${wheels}" }\n    health: { http: /health }\n    routes: [api.forgetrace.test]\n  www:\n    static: frontend/dist\n    cwd: frontend\n    build: node build.mjs\n    spa: true\n    routes: [www.forgetrace.test]\n`,
  );
  let v = 0;
  writeFileSync(path.join(dir, 'backend', 'server.py'), SERVER(v));
  await berth(['deploy', dir]); // warm: daemon, proxy, first release
  const berthd = Number(readFileSync(path.join(env.BERTH_HOME, 'berthd.pid'), 'utf8').split(' ')[0]);
  const load0 = loadAverage();
  const rows: string[][] = [];
  for (const mode of ['cache', 'no-cache'] as const) {
    const wall: number[] = [];
    const cpu: number[] = [];
    const build: number[] = [];
    let spaSkipped = 0;
    for (let i = 0; i < RUNS; i++) {
      writeFileSync(path.join(dir, 'backend', 'server.py'), SERVER(++v)); // a Python-only change
      const cpu0 = treeCpuMs(berthd);
      const r = await berth(['deploy', dir, '--json', ...(mode === 'no-cache' ? ['--no-cache'] : [])]);
      cpu.push(treeCpuMs(berthd) - cpu0 + r.cpu);
      wall.push(r.ms);
      const res = JSON.parse(r.out) as { status: string; release: number; steps: Array<{ name: string; ms: number }> };
      if (res.status !== 'succeeded') throw new Error(r.out);
      build.push(res.steps.find((s) => s.name.startsWith('build'))?.ms ?? 0);
      const log = readFileSync(
        path.join(env.BERTH_HOME, 'logs', 'forgetrace', 'production', `build-${res.release}.log`),
      );
      if (/build of www: inputs unchanged/.test(log.toString())) spaSkipped++;
    }
    const p50 = (xs: number[]) => percentile(xs, 50).toFixed(0);
    rows.push([mode, p50(wall), p50(build), p50(cpu), `${spaSkipped}/${RUNS}`]);
  }
  console.log(
    `${new Date().toISOString()}, ${machine()}${envNote()}, load average ${load0} -> ${loadAverage()}, ${REPO}, ` +
      `${RUNS} redeploys each after a Python-only change, SPA build stand-in ${SPA_MS} ms of CPU\n`,
  );
  console.log(
    table(
      ['build', 'deploy wall ms (median)', 'build step ms', 'CPU ms (CLI + berthd + builds)', 'SPA build skipped'],
      rows,
    ),
  );
  const cached = rows[0] as string[];
  console.log(
    `\ntarget: SPA build skipped and deploy < 3 s: ${cached[4] === `${RUNS}/${RUNS}` && Number(cached[1]) < 3000 ? 'met' : 'NOT met'}`,
  );
} finally {
  await berth(['rm', 'forgetrace', '--purge']).catch(() => undefined);
  await berth(['proxy', 'stop']).catch(() => undefined);
  await berth(['daemon', 'stop']).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
