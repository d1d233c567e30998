/**
 * bench/deploy: Berth's own overhead per deploy: from the `berth deploy` command's start
 * to traffic switched, minus the app's own start-to-listening time, median of 20 deploys
 * of a one-service app (a small Node HTTP server). Target: <= 100 ms. Also the CPU time (utime+stime) of the
 * `berth deploy` process and of berthd per deploy: what a loaded machine's wall times hide.
 * Run: `npm run build && node dist/bench/deploy.js`; `BENCH_REPO=/other/checkout` runs that (built) checkout's berth.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cpuMs,
  envNote,
  hostEnv,
  loadAverage,
  machine,
  percentile,
  sleep,
  table,
  timedCommand,
  workDir,
} from './lib.js';

const REPO = path.resolve(process.env.BENCH_REPO ?? fileURLToPath(new URL('../..', import.meta.url)));
const BIN = path.join(REPO, 'bin', 'berth.js');
const RUNS = 20;
const work = workDir('deploy');
const env = {
  ...hostEnv({}),
  BERTH_HOME: path.join(work, 'home'),
  BERTH_PORT_RANGE: '26000-26999',
  BERTH_HTTP_PORT: '18750',
  BERTH_HTTP_ADDRESS: '127.0.0.1',
};
const SERVER = `import { createServer } from 'node:http';\ncreateServer((q, s) => s.end('v' + process.env.V)).listen(Number(process.env.PORT), '127.0.0.1');\n`;

const berth = (args: string[]) => timedCommand(BIN, args, env);

/** How long the app itself takes from spawn to accepting connections. */
async function appReadyMs(dir: string, port: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, ['server.mjs'], {
    cwd: dir,
    env: { PATH: process.env.PATH, PORT: String(port), V: '0' },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      const ok = await new Promise<boolean>((r) => {
        const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
        s.on('error', () => r(false));
      });
      if (ok) return Number(process.hrtime.bigint() - t0) / 1e6;
      await sleep(1);
    }
  } finally {
    // Reaped before the next deploy, so its CPU never counts as the CLI's (cutime counts waited-for children).
    const gone = new Promise((r) => child.once('exit', r));
    child.kill();
    await gone;
  }
}

try {
  const dir = path.join(work, 'app');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'server.mjs'), SERVER);
  const manifest = (v: number) =>
    `app: bench\nservices:\n  web:\n    run: [node, server.mjs]\n    env: { V: "${v}" }\n    routes: [bench.test]\n`;
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(0));
  await berth(['deploy', dir]); // warm: daemon, proxy, first release
  const toSwitch: number[] = [];
  const total: number[] = [];
  const ready: number[] = [];
  const steps = new Map<string, number[]>();
  const cliCpu: number[] = [];
  const daemonCpu: number[] = [];
  const berthd = Number(readFileSync(path.join(env.BERTH_HOME, 'berthd.pid'), 'utf8').split(' ')[0]);
  const load0 = loadAverage();
  for (let i = 1; i <= RUNS; i++) {
    writeFileSync(path.join(dir, 'berth.yaml'), manifest(i));
    const daemon0 = cpuMs(berthd);
    const { ms, cpu, out } = await berth(['deploy', dir, '--json']);
    cliCpu.push(cpu);
    daemonCpu.push(cpuMs(berthd) - daemon0);
    const r = JSON.parse(out) as { status: string; steps: Array<{ name: string; ms: number }> };
    if (r.status !== 'succeeded') throw new Error(out);
    for (const s of r.steps) {
      const name = s.name.replace(/\d+/g, 'N');
      steps.set(name, [...(steps.get(name) ?? []), s.ms]);
    }
    const after = r.steps.filter((s) => /^(drain|stop release|prune)/.test(s.name)).reduce((n, s) => n + s.ms, 0);
    total.push(ms);
    toSwitch.push(ms - after);
    ready.push(await appReadyMs(dir, 26999));
  }
  const p50 = (xs: number[]) => percentile(xs, 50);
  const overhead = p50(toSwitch) - p50(ready);
  console.log(
    `${new Date().toISOString()}, ${machine()}${envNote()}, load average ${load0} -> ${loadAverage()}, ${REPO}, ${RUNS} deploys of one Node service\n`,
  );
  console.log(
    table(
      ['measure (median of 20)', 'ms'],
      [
        ['berth deploy, whole command', p50(total).toFixed(0)],
        ['command start to traffic switched', p50(toSwitch).toFixed(0)],
        ["the app's own start to listening", p50(ready).toFixed(0)],
        ["Berth's overhead (switched - app)", overhead.toFixed(0)],
        ['CPU of the `berth deploy` process', p50(cliCpu).toFixed(0)],
        ["berthd's CPU per deploy", p50(daemonCpu).toFixed(0)],
      ],
    ),
  );
  console.log(`\ntarget: overhead <= 100 ms: ${overhead <= 100 ? 'met' : 'NOT met'}\n`);
  const stepped = [...steps.values()].reduce((n, ms) => n + p50(ms), 0);
  console.log(
    table(
      ['step (median of 20)', 'ms'],
      [
        ...[...steps].map(([name, ms]) => [name, p50(ms).toFixed(0)]),
        ['outside the steps (CLI start, upload, pre-flight, answer)', (p50(total) - stepped).toFixed(0)],
      ],
    ),
  );
} finally {
  await berth(['rm', 'bench', '--purge']).catch(() => undefined);
  await berth(['proxy', 'stop']).catch(() => undefined);
  await berth(['daemon', 'stop']).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
