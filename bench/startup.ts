/**
 * bench/startup: what berthd's start and a CLI call cost (issue 14: daemon start < 500 ms, RSS idle < 50 MiB and
 * no growth over cycles). Each round starts berthd on a fresh BERTH_HOME with `berth daemon start` (a whole CLI run,
 * as bench/scale times it) and takes its wall time, berthd's CPU when it answers (utime+stime), a `berth ps` (the
 * CLI's own start and one request), and berthd's RSS after 3 s idle; then 3 cycles of `berth up` and `berth rm
 * --purge` of 100 `sleep` services, with berthd's RSS after each. `BENCH_REPOS=/a,/b` compares Berth checkouts (each
 * built), alternated round by round so both see the same load. Run: `node dist/bench/startup.js`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs, envNote, hostEnv, loadAverage, machine, percentile, rssKiB, sleep, table, workDir } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 3);
const OWN = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const REPOS = (process.env.BENCH_REPOS ?? OWN).split(',').map((r) => path.resolve(r));
const SLEEP = execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim();
const work = workDir('startup');

/** CPU time (user + system) of this process's waited-for children so far, in ms (cutime + cstime). */
function childrenCpuMs(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
}

/** One CLI run: its wall time and its CPU time (the CLI alone: berthd is not its child once detached). */
function berth(repo: string, env: NodeJS.ProcessEnv, args: string[]): Promise<{ wall: number; cpu: number }> {
  const cpu0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) =>
    execFile(path.join(repo, 'bin', 'berth.js'), args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) =>
      err
        ? reject(new Error(`berth ${args.join(' ')}: ${errOut || out}`))
        : resolve({ wall: Number(process.hrtime.bigint() - t0) / 1e6, cpu: childrenCpuMs() - cpu0 }),
    ),
  );
}

interface Round {
  startWall: number;
  startCpu: number;
  psWall: number;
  psCpu: number;
  rss: number;
  cycles: number[];
}

async function round(repo: string, n: number, cycles: number): Promise<Round> {
  const home = path.join(work, `home-${n}`);
  mkdirSync(home, { mode: 0o700 });
  const env = {
    ...hostEnv({}),
    BERTH_HOME: home,
    BERTH_PORT_RANGE: '24000-24999',
    BERTH_HTTP_PORT: '18772',
    BERTH_HTTP_ADDRESS: '127.0.0.1',
  };
  try {
    const start = await berth(repo, env, ['daemon', 'start']);
    const pid = Number(readFileSync(path.join(home, 'berthd.pid'), 'utf8').split(' ')[0]);
    const startCpu = cpuMs(pid);
    const ps = await berth(repo, env, ['ps']);
    await sleep(3000);
    const rss = rssKiB(pid) / 1024;
    const after: number[] = [];
    const app = path.join(work, `app-${n}`);
    mkdirSync(app);
    const services = Array.from(
      { length: 100 },
      (_, i) => `  s${i}:\n    run: ["${SLEEP}", "100000"]\n    port: none\n`,
    );
    writeFileSync(path.join(app, 'berth.yaml'), `app: cycles\nservices:\n${services.join('')}`);
    for (let i = 0; i < cycles; i++) {
      await berth(repo, env, ['up', app]);
      await berth(repo, env, ['rm', 'cycles', '--purge']);
      await sleep(3000);
      after.push(rssKiB(pid) / 1024);
    }
    return { startWall: start.wall, startCpu, psWall: ps.wall, psCpu: ps.cpu, rss, cycles: after };
  } finally {
    await berth(repo, env, ['proxy', 'stop']).catch(() => undefined);
    await berth(repo, env, ['daemon', 'stop']).catch(() => undefined);
  }
}

try {
  const loads = [loadAverage()];
  const results = new Map<string, Round[]>(REPOS.map((r) => [r, []]));
  let n = 0;
  for (let i = 0; i < ROUNDS; i++)
    for (const repo of REPOS) results.get(repo)?.push(await round(repo, n++, i === 0 ? CYCLES : 0));
  loads.push(loadAverage());
  const p50 = (xs: number[]) => percentile(xs, 50).toFixed(0);
  const mib = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(1));
  console.log(
    `${new Date().toISOString()}, ${machine()}${envNote()}, load average ${loads.join(' -> ')}, ${ROUNDS} rounds\n`,
  );
  console.log(
    table(
      [
        'checkout',
        'daemon start wall (ms)',
        'berthd CPU at answer (ms)',
        'berth ps wall (ms)',
        'berth ps CPU (ms)',
        'RSS idle (MiB)',
        `RSS after cycles 1..${CYCLES} of 100 (MiB)`,
      ],
      [...results].map(([repo, rs]) => [
        repo,
        p50(rs.map((r) => r.startWall)),
        p50(rs.map((r) => r.startCpu)),
        p50(rs.map((r) => r.psWall)),
        p50(rs.map((r) => r.psCpu)),
        mib(
          percentile(
            rs.map((r) => r.rss),
            50,
          ),
        ),
        (rs[0]?.cycles ?? []).map(mib).join(', '),
      ]),
    ),
  );
  console.log('\n(medians; the cycles are from the first round)');
} finally {
  rmSync(work, { recursive: true, force: true });
}
