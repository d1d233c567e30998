/**
 * bench/boot: after a simulated reboot (every process of the BERTH_HOME killed with SIGKILL:
 * berthd, the proxy, every instance), the time from `berth daemon start` to every route serving
 * again, 20 apps of two services each (web depends_on api, so two waves per app).
 * Run: `npm run build && node dist/bench/boot.js` (in a network namespace of its own when others use the ports).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listPids, procEnvValue, procStat } from '../src/system/proc.js';
import { MARKER_ENV } from '../src/runtime/process-table.js';
import { envNote, hostEnv, loadAverage, machine, percentile, sleep, table, workDir } from './lib.js';

const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = path.join(REPO, 'bin', 'berth.js');
const APPS = Number(process.env.BENCH_APPS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const HTTP_PORT = 18751;
const work = workDir('boot');
const home = path.join(work, 'home');
const env = {
  ...hostEnv({}),
  BERTH_HOME: home,
  BERTH_PORT_RANGE: '30000-30199',
  BERTH_HTTP_PORT: String(HTTP_PORT),
  BERTH_HTTP_ADDRESS: '127.0.0.1',
};
const SERVER = `import { createServer } from 'node:http';\ncreateServer((q, s) => s.end(process.env.NAME)).listen(Number(process.env.PORT), '127.0.0.1');\n`;

function berth(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(BIN, args, { env }, (err, out, errOut) =>
      err ? reject(new Error(`berth ${args.join(' ')}: ${errOut || out}`)) : resolve(out),
    ),
  );
}

function answers(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: HTTP_PORT, path: '/', headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.setTimeout(2000, () => req.destroy());
    req.end();
  });
}

/** berthd, the proxy (they carry BERTH_HOME) and every instance (its marker): what a reboot ends. */
function processesOfHome(): number[] {
  const marker = createHash('sha256').update(home).digest('hex').slice(0, 12) + ':';
  return listPids().filter((pid) => {
    if (pid === process.pid || procStat(pid)?.state === 'Z') return false;
    return procEnvValue(pid, 'BERTH_HOME') === home || procEnvValue(pid, MARKER_ENV)?.startsWith(marker);
  });
}

async function reboot(): Promise<number> {
  const pids = processesOfHome();
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  while (pids.some((pid) => procStat(pid) && procStat(pid)?.state !== 'Z')) await sleep(10);
  return pids.length;
}

/** One round: `berth daemon start`, then every route polled until all answer; ms from the start. */
async function round(
  hosts: readonly string[],
): Promise<{ killed: number; daemon: number; first: number; all: number }> {
  const killed = await reboot();
  const t0 = Date.now();
  const started = berth(['daemon', 'start']).then(() => Date.now() - t0);
  let first = 0;
  const waiting = new Set(hosts);
  while (waiting.size > 0) {
    const ok = await Promise.all([...waiting].map(async (h) => [h, await answers(h)] as const));
    for (const [h, yes] of ok) if (yes) waiting.delete(h);
    if (first === 0 && waiting.size < hosts.length) first = Date.now() - t0;
    if (Date.now() - t0 > 300_000) throw new Error(`still not serving after 300 s: ${[...waiting].join(' ')}`);
    if (waiting.size > 0) await sleep(20);
  }
  return { killed, daemon: await started, first, all: Date.now() - t0 };
}

const hosts: string[] = [];
try {
  for (let i = 0; i < APPS; i++) {
    const dir = path.join(work, 'apps', `app${i}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'server.mjs'), SERVER);
    writeFileSync(
      path.join(dir, 'berth.yaml'),
      `app: boot${i}\nservices:\n  api:\n    run: [node, server.mjs]\n    env: { NAME: api }\n` +
        `  web:\n    run: [node, server.mjs]\n    env: { NAME: web }\n    depends_on: [api]\n    routes: [{ host: boot${i}.test, tls: off }]\n`,
    );
    await berth(['deploy', dir]);
    hosts.push(`boot${i}.test`);
  }
  const loadBefore = loadAverage();
  const rounds: Array<Awaited<ReturnType<typeof round>>> = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await round(hosts));
  const p50 = (f: (x: (typeof rounds)[number]) => number) => percentile(rounds.map(f), 50).toFixed(0);
  console.log(
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${machine()}${envNote()}, load average ${loadBefore} before, ` +
      `${loadAverage()} after; ${APPS} apps x 2 services (web depends_on api), ${ROUNDS} reboots\n`,
  );
  console.log(
    table(
      [
        'reboot',
        'processes killed',
        'daemon start returned (ms)',
        'first route serving (ms)',
        'all routes serving (ms)',
      ],
      [
        ...rounds.map((x, i) => [String(i + 1), String(x.killed), String(x.daemon), String(x.first), String(x.all)]),
        ['median', '', p50((x) => x.daemon), p50((x) => x.first), p50((x) => x.all)],
      ],
    ),
  );
} finally {
  for (let i = 0; i < hosts.length; i++) await berth(['rm', `boot${i}`, '--purge']).catch(() => undefined);
  await berth(['proxy', 'stop']).catch(() => undefined);
  await berth(['daemon', 'stop']).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
