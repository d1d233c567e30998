/**
 * bench/scale: what the daemon costs with many services, Berth and PM2 side by side (issue 14).
 * For each tool: daemon start, the daemon's CPU over `BENCH_IDLE_SECONDS` (default 30) of
 * idleness with 0, 100 and N services (utime+stime from /proc/<pid>/stat), starting and
 * removing N services (`berth up` + `berth rm` / `pm2 start` + `pm2 delete all`), listing them
 * (`berth ps` / `pm2 jlist`, median of 10 whole CLI runs, and while the N start), and the daemon's RSS idle and after
 * 3 cycles of starting and removing 100. N is `BENCH_SERVICES` (default 1,000); services are
 * `sleep` processes (`port: none`). Run as it is, root or not: `node dist/bench/scale.js`.
 * `BENCH_PART=start-remove` runs only the start, list and removal of N (no idle or RSS phases), with the
 * daemon's CPU over each; `BENCH_TOOLS=berth` leaves PM2 out; `BENCH_REPO=/other/checkout` runs that
 * (built) checkout's berth; `BENCH_APP` names the app (default `scale`: two runs side by side need two names, as
 * root each app has a system user of its name).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cpuMs,
  envNote,
  hostEnv,
  loadAverage,
  machine,
  percentile,
  pm2Bin,
  rssKiB,
  sleep,
  table,
  timeCommand,
} from './lib.js';

const N = Number(process.env.BENCH_SERVICES ?? 1000);
const IDLE_S = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
const OWN = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const REPO = path.resolve(process.env.BENCH_REPO ?? OWN);
const ONLY_START_REMOVE = process.env.BENCH_PART === 'start-remove';
const TOOLS = (process.env.BENCH_TOOLS ?? 'berth,pm2').split(',');
const APP = process.env.BENCH_APP ?? 'scale';
const SLEEP = execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim();
const work = mkdtempSync(path.join(tmpdir(), 'berth-scale-'));
chmodSync(work, 0o755); // app users (on by default as root) read their releases under it

/** What one tool has to do; each returns when the tool says it is done. */
interface Tool {
  readonly name: string;
  startDaemon(): Promise<number>;
  daemonPid(): number;
  up(n: number): Promise<number>;
  list(): Promise<number>;
  remove(): Promise<number>;
  stopDaemon(): Promise<void>;
}

function berth(): Tool {
  const home = path.join(work, 'berth-home');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(home, 'config.yaml'), `max_services: ${Math.max(N, 200)}\n`);
  const env = {
    ...hostEnv({}),
    BERTH_HOME: home,
    BERTH_PORT_RANGE: '24000-24999',
    BERTH_HTTP_PORT: '18771',
    BERTH_HTTP_ADDRESS: '127.0.0.1',
  };
  const cli = [path.join(REPO, 'bin', 'berth.js')];
  const run = (...args: string[]) => timeCommand([...cli, ...args], env);
  return {
    name: 'berth',
    startDaemon: () => run('daemon', 'start'),
    daemonPid: () => Number(readFileSync(path.join(home, 'berthd.pid'), 'utf8').split(' ')[0]),
    up: (n) => {
      const app = path.join(work, `app-${n}`);
      mkdirSync(app, { recursive: true });
      const services = Array.from(
        { length: n },
        (_, i) => `  s${i}:\n    run: ["${SLEEP}", "100000"]\n    port: none\n`,
      );
      writeFileSync(path.join(app, 'berth.yaml'), `app: ${APP}\nservices:\n${services.join('')}`);
      return run('up', app);
    },
    list: () => run('ps'),
    remove: () => run('rm', APP, '--purge'),
    stopDaemon: async () => {
      await run('proxy', 'stop');
      await run('daemon', 'stop');
    },
  };
}

function pm2(): Tool {
  const env = { ...hostEnv({}), PM2_HOME: path.join(work, 'pm2-home') };
  const cli = [process.execPath, pm2Bin(OWN)];
  const run = (...args: string[]) => timeCommand([...cli, ...args], env);
  return {
    name: 'pm2',
    startDaemon: () => run('ping'),
    daemonPid: () => Number(readFileSync(path.join(env.PM2_HOME, 'pm2.pid'), 'utf8')),
    up: (n) => {
      const apps = Array.from({ length: n }, (_, i) => ({
        name: `s${i}`,
        script: SLEEP,
        args: '100000',
        interpreter: 'none',
        autorestart: true,
      }));
      const eco = path.join(work, `ecosystem-${n}.config.cjs`);
      writeFileSync(eco, `module.exports = ${JSON.stringify({ apps })};\n`);
      return run('start', eco);
    },
    list: () => run('jlist'),
    remove: () => run('delete', 'all'),
    stopDaemon: async () => void (await run('kill')),
  };
}

/** Percent of one core the daemon used over IDLE_S seconds, after `settle` seconds of quiet. */
async function idleCpu(t: Tool): Promise<string> {
  await sleep(3000);
  const pid = t.daemonPid();
  const before = cpuMs(pid);
  await sleep(IDLE_S * 1000);
  return ((100 * (cpuMs(pid) - before)) / (IDLE_S * 1000)).toFixed(2);
}

/** CPU (ms) of the daemon and of its launchers (berthd's children that fork its instances: src/native/launcher.c). */
function daemonCpuMs(pid: number): number {
  let ms = cpuMs(pid);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.includes('(launcher)') && stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(pid))
        ms += cpuMs(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return ms;
}

/** Starts, lists and removes N with the daemon's CPU (ms, its launchers' included) over the start and the removal. */
async function startRemove(t: Tool): Promise<string[]> {
  await t.startDaemon();
  const pid = t.daemonPid();
  const state = { starting: true };
  const during: number[] = [];
  const cpu0 = daemonCpuMs(pid);
  const upN = t.up(N).finally(() => (state.starting = false));
  while (state.starting) during.push(await t.list());
  const up = await upN;
  const cpuUp = daemonCpuMs(pid) - cpu0;
  const ls: number[] = [];
  for (let i = 0; i < 10; i++) ls.push(await t.list());
  const cpu1 = daemonCpuMs(pid);
  const rm = await t.remove();
  const cpuRm = daemonCpuMs(pid) - cpu1;
  await t.stopDaemon();
  const ms = (v: number) => v.toFixed(0);
  const p50max = `${ms(percentile(during, 50))} / ${ms(Math.max(...during))}`;
  return [t.name, ms(up), ms(cpuUp), p50max, ms(percentile(ls, 50)), ms(rm), ms(cpuRm)];
}

async function measure(t: Tool): Promise<string[]> {
  const start = await t.startDaemon();
  const idle0 = await idleCpu(t);
  const rss0 = rssKiB(t.daemonPid()) / 1024;
  await t.up(100);
  const idle100 = await idleCpu(t);
  await t.remove();
  // While the N start, another caller lists: how long does it wait? (issue 14: < 1 s during a 1,000-service deploy)
  const state = { starting: true };
  const during: number[] = [];
  const upN = t.up(N).finally(() => (state.starting = false));
  while (state.starting) during.push(await t.list());
  const up = await upN;
  const idleN = await idleCpu(t);
  const ls: number[] = [];
  for (let i = 0; i < 10; i++) ls.push(await t.list());
  const rm = await t.remove();
  for (let i = 0; i < 3; i++) {
    await t.up(100);
    await t.remove();
  }
  await sleep(3000);
  const rss3 = rssKiB(t.daemonPid()) / 1024;
  await t.stopDaemon();
  const ms = (v: number) => v.toFixed(0);
  return [
    t.name,
    ms(start),
    idle0,
    idle100,
    idleN,
    ms(up),
    `${ms(percentile(during, 50))} / ${ms(Math.max(...during))}`,
    ms(percentile(ls, 50)),
    ms(rm),
    rss0.toFixed(1),
    rss3.toFixed(1),
  ];
}

async function startRemoveOnly(): Promise<void> {
  const rows: string[][] = [];
  if (TOOLS.includes('berth')) rows.push(await startRemove(berth()));
  if (TOOLS.includes('pm2')) rows.push(await startRemove(pm2()));
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${machine()}${envNote()}, berth from ${REPO}, load average ${loadAverage()} at the end, ${N} services (\`sleep\`)\n`,
  );
  const heads = [`start ${N} (ms)`, 'daemon CPU (ms)', 'ps while starting p50 / max (ms)', `ps at ${N} p50 (ms)`];
  console.log(table(['tool', ...heads, `remove ${N} (ms)`, 'daemon CPU (ms)'], rows));
}

async function full(): Promise<void> {
  const rows = [await measure(berth()), await measure(pm2())];
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${machine()}${envNote()}, load average ${loadAverage()} at the end, ${N} services (\`sleep\`), idle over ${IDLE_S} s\n`,
  );
  console.log(
    table(
      [
        'tool',
        'daemon start (ms)',
        'idle CPU % 0',
        'idle CPU % 100',
        `idle CPU % ${N}`,
        `start ${N} (ms)`,
        `ps while starting p50 / max (ms)`,
        `ps at ${N} p50 (ms)`,
        `remove ${N} (ms)`,
        'RSS idle (MiB)',
        'RSS after 3 cycles of 100 (MiB)',
      ],
      rows,
    ),
  );
}

try {
  await (ONLY_START_REMOVE ? startRemoveOnly() : full());
} finally {
  rmSync(work, { recursive: true, force: true });
}
