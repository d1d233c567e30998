/**
 * bench/core: 100 trivial services under Berth and under PM2, side by side.
 * Reports `berth up` wall time, `berth ps` latency (median and p95 of 20 runs, a whole CLI
 * process each) and idle daemon RSS, with PM2's `pm2 start` / `pm2 jlist` / God daemon RSS
 * for the same 100 processes. Run: `npm run build && node dist/bench/core.js`.
 * PM2 is installed from npm into bench/.pm2 on first use.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNote, hostEnv, machine, percentile, pm2Bin, rssKiB, sleep, table, timeCommand, workDir } from './lib.js';

const N = Number(process.env.BENCH_SERVICES ?? 100);
const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
// Run as a user does (through PATH), so bin/berth.js's shebang applies.
const BERTH = [path.join(REPO, 'bin', 'berth.js')];
const work = workDir('core');
const SLEEP = execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim();

async function berth(): Promise<string[]> {
  const env = {
    ...hostEnv({}),
    BERTH_HOME: path.join(work, 'berth-home'),
    BERTH_PORT_RANGE: '24000-24999',
    BERTH_HTTP_PORT: '18770',
    BERTH_HTTP_ADDRESS: '127.0.0.1',
  };
  const app = path.join(work, 'app');
  mkdirSync(app, { recursive: true });
  const services = Array.from(
    { length: N },
    (_, i) => `  s${i}:\n    run: ["${SLEEP}", "100000"]\n    port: none\n`,
  ).join('');
  writeFileSync(path.join(app, 'berth.yaml'), `app: bench\nservices:\n${services}`);
  await timeCommand([...BERTH, 'daemon', 'start'], env);
  const up = await timeCommand([...BERTH, 'up', app], env);
  await sleep(2000);
  const ps: number[] = [];
  for (let i = 0; i < 20; i++) ps.push(await timeCommand([...BERTH, 'ps'], env));
  await sleep(5000);
  const pid = Number(readFileSync(path.join(env.BERTH_HOME, 'berthd.pid'), 'utf8').split(' ')[0]);
  const rss = rssKiB(pid);
  await timeCommand([...BERTH, 'rm', 'bench', '--purge'], env);
  await timeCommand([...BERTH, 'proxy', 'stop'], env);
  await timeCommand([...BERTH, 'daemon', 'stop'], env);
  return ['berth', fmt(up), fmt(percentile(ps, 50)), fmt(percentile(ps, 95)), (rss / 1024).toFixed(1)];
}

async function pm2(): Promise<string[]> {
  const bin = pm2Bin(REPO);
  const env = { ...hostEnv({}), PM2_HOME: path.join(work, 'pm2-home') };
  const eco = path.join(work, 'ecosystem.config.cjs');
  const apps = Array.from({ length: N }, (_, i) => ({
    name: `s${i}`,
    script: SLEEP,
    args: '100000',
    interpreter: 'none',
    autorestart: true,
  }));
  writeFileSync(eco, `module.exports = ${JSON.stringify({ apps })};\n`);
  const cmd = [process.execPath, bin];
  await timeCommand([...cmd, 'ping'], env); // start the God daemon first, as for berthd
  const up = await timeCommand([...cmd, 'start', eco], env);
  await sleep(2000);
  const ls: number[] = [];
  for (let i = 0; i < 20; i++) ls.push(await timeCommand([...cmd, 'jlist'], env));
  await sleep(5000);
  const rss = rssKiB(Number(readFileSync(path.join(env.PM2_HOME, 'pm2.pid'), 'utf8')));
  await timeCommand([...cmd, 'kill'], env);
  return ['pm2', fmt(up), fmt(percentile(ls, 50)), fmt(percentile(ls, 95)), (rss / 1024).toFixed(1)];
}

const fmt = (ms: number) => ms.toFixed(0);

try {
  const rows = [await berth(), await pm2()];
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${machine()}${envNote()}, ${N} services (\`sleep\` processes)\n`,
  );
  console.log(table(['tool', 'up/start (ms)', 'ps p50 (ms)', 'ps p95 (ms)', 'idle daemon RSS (MiB)'], rows));
} finally {
  rmSync(work, { recursive: true, force: true });
}
