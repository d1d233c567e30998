/**
 * bench/deploy: Berth's own overhead per deploy: from the `berth deploy` command's start
 * to traffic switched, minus the app's own start-to-listening time, median of 20 deploys
 * of a one-service app (a small Node HTTP server). Target: <= 100 ms. Also the CPU time (utime+stime) of the
 * `berth deploy` process and of berthd per deploy: what a loaded machine's wall times hide.
 * Run: `npm run build && node dist/bench/deploy.js`; `BENCH_REPO=/other/checkout` runs that (built) checkout's berth.
 * `BENCH_BASE=/other/checkout` deploys with that checkout too, in the same loop (its own home, berthd and app),
 * alternating with this one: an A/B on a shared machine. `BENCH_PORTS` (default 26000-26999, the apps' ports and
 * the app's own start; halved with a base) and `BENCH_HTTP_PORT` (default 18750, the base's one above) move the ports.
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
const BASE = process.env.BENCH_BASE ? path.resolve(process.env.BENCH_BASE) : undefined;
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const [LOW, HIGH] = (process.env.BENCH_PORTS ?? '26000-26999').split('-').map(Number) as [number, number];
const HTTP_PORT = Number(process.env.BENCH_HTTP_PORT ?? 18750);
const work = workDir('deploy');
const SERVER = `import { createServer } from 'node:http';\ncreateServer((q, s) => s.end('v' + process.env.V)).listen(Number(process.env.PORT), '127.0.0.1');\n`;
/** The port the app's own start is measured on: the last of the range, never leased (the sides lease below it). */
const READY_PORT = HIGH;

/** One checkout deployed in the loop: its berth, its home and ports, its app (named apart: app users are per name). */
interface Side {
  readonly name: string;
  readonly repo: string;
  readonly app: string;
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly toSwitch: number[];
  readonly total: number[];
  readonly cliCpu: number[];
  readonly daemonCpu: number[];
  readonly steps: Map<string, number[]>;
}

function side(name: string, repo: string, app: string, ports: string, httpPort: number): Side {
  const dir = path.join(work, app);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'server.mjs'), SERVER);
  const env = hostEnv({
    BERTH_HOME: path.join(work, `home-${app}`),
    BERTH_PORT_RANGE: ports,
    BERTH_HTTP_PORT: String(httpPort),
    BERTH_HTTP_ADDRESS: '127.0.0.1',
  });
  return { name, repo, app, dir, env, toSwitch: [], total: [], cliCpu: [], daemonCpu: [], steps: new Map() };
}

const berth = (s: Side, args: string[]) => timedCommand(path.join(s.repo, 'bin', 'berth.js'), args, s.env);
const manifest = (s: Side, v: number) =>
  writeFileSync(
    path.join(s.dir, 'berth.yaml'),
    `app: ${s.app}\nservices:\n  web:\n    run: [node, server.mjs]\n    env: { V: "${v}" }\n    routes: [bench.test]\n`,
  );

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

/** One deploy of a new version: its times, CPU and steps go to the side's samples. */
async function deployOnce(s: Side, v: number): Promise<void> {
  manifest(s, v);
  const berthd = Number(readFileSync(path.join(s.env.BERTH_HOME!, 'berthd.pid'), 'utf8').split(' ')[0]);
  const daemon0 = cpuMs(berthd);
  const { ms, cpu, out } = await berth(s, ['deploy', s.dir, '--json']);
  s.cliCpu.push(cpu);
  s.daemonCpu.push(cpuMs(berthd) - daemon0);
  const r = JSON.parse(out) as { status: string; steps: Array<{ name: string; ms: number }> };
  if (r.status !== 'succeeded') throw new Error(out);
  for (const step of r.steps) {
    const name = step.name.replace(/\d+/g, 'N');
    s.steps.set(name, [...(s.steps.get(name) ?? []), step.ms]);
  }
  const after = r.steps.filter((x) => /^(drain|stop release|prune)/.test(x.name)).reduce((n, x) => n + x.ms, 0);
  s.total.push(ms);
  s.toSwitch.push(ms - after);
}

const p50 = (xs: number[]) => percentile(xs, 50);

function report(s: Side, ready: number[]): void {
  const overhead = p50(s.toSwitch) - p50(ready);
  console.log(`**${s.name}** (${s.repo}):\n`);
  console.log(
    table(
      [`measure (median of ${RUNS})`, 'ms'],
      [
        ['berth deploy, whole command', p50(s.total).toFixed(0)],
        ['command start to traffic switched', p50(s.toSwitch).toFixed(0)],
        ["the app's own start to listening", p50(ready).toFixed(0)],
        ["Berth's overhead (switched - app)", overhead.toFixed(0)],
        ['CPU of the `berth deploy` process', p50(s.cliCpu).toFixed(0)],
        ["berthd's CPU per deploy", p50(s.daemonCpu).toFixed(0)],
      ],
    ),
  );
  console.log(`\ntarget: overhead <= 100 ms: ${overhead <= 100 ? 'met' : 'NOT met'}\n`);
  const stepped = [...s.steps.values()].reduce((n, ms) => n + p50(ms), 0);
  console.log(
    table(
      [`step (median of ${RUNS})`, 'ms'],
      [
        ...[...s.steps].map(([name, ms]) => [name, p50(ms).toFixed(0)]),
        ['outside the steps (CLI start, upload, pre-flight, answer)', (p50(s.total) - stepped).toFixed(0)],
      ],
    ),
  );
  console.log('');
}

const half = Math.floor((LOW + HIGH - 1) / 2);
const sides = BASE
  ? [
      side('this checkout', REPO, 'bench', `${LOW}-${half}`, HTTP_PORT),
      side('base', BASE, 'benchb', `${half + 1}-${HIGH - 1}`, HTTP_PORT + 1),
    ]
  : [side('this checkout', REPO, 'bench', `${LOW}-${HIGH - 1}`, HTTP_PORT)];
try {
  for (const s of sides) {
    manifest(s, 0);
    await berth(s, ['deploy', s.dir]); // warm: daemon, proxy, first release
  }
  const ready: number[] = [];
  const load0 = loadAverage();
  for (let i = 1; i <= RUNS; i++) {
    // Alternating which goes first, so neither always deploys right after the other's.
    for (const s of i % 2 ? sides : [...sides].reverse()) await deployOnce(s, i);
    ready.push(await appReadyMs(sides[0]!.dir, READY_PORT));
  }
  console.log(
    `${new Date().toISOString()}, ${machine()}${envNote()}, load average ${load0} -> ${loadAverage()}, ${RUNS} deploys of one Node service${BASE ? ' per checkout, alternating' : ''}\n`,
  );
  for (const s of sides) report(s, ready);
} finally {
  for (const s of sides) {
    await berth(s, ['rm', s.app, '--purge']).catch(() => undefined);
    await berth(s, ['proxy', 'stop']).catch(() => undefined);
    await berth(s, ['daemon', 'stop']).catch(() => undefined);
  }
  rmSync(work, { recursive: true, force: true });
}
