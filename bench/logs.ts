/**
 * bench/logs: one instance writing 1 MiB chunks of log lines flat out (test/fixtures/flood.mjs)
 * for 10 s, with log_max_bytes 10 MiB and log_keep 5. Meanwhile `GET /v1/instances` (what
 * `berth ps` asks) goes to berthd over its unix socket back to back, and the log dir is
 * measured every 20 ms. Targets (issue 13): ps < 200 ms throughout; disk about
 * log_max_bytes x (log_keep + 1). Also what the instance's log writer costs (one per instance,
 * issue 14): its memory and CPU while flooded, and its start against `node -e ''`, the least a
 * writer in Node could cost. Run: `npm run build && node dist/bench/logs.js`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../src/api/client.js';
import { logWriterPath } from '../src/runtime/log-writer.js';
import { listPids, procArgv } from '../src/system/proc.js';
import { envNote, hostEnv, machine, percentile, sleep, table, workDir } from './lib.js';

const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = path.join(REPO, 'bin', 'berth.js');
const FLOOD = path.join(REPO, 'test', 'fixtures', 'flood.mjs');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const MAX = 10 * 1024 * 1024;
const KEEP = 5;
const work = workDir('logs');
const home = path.join(work, 'home');
const env = {
  ...hostEnv({}),
  BERTH_HOME: home,
  BERTH_PORT_RANGE: '27900-27999',
  BERTH_HTTP_PORT: '18761',
  BERTH_HTTP_ADDRESS: '127.0.0.1',
};

function berth(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(BIN, args, { env, maxBuffer: 1 << 26, timeout: 600_000 }, (err, out, errOut) =>
      err ? reject(new Error(`${args.join(' ')}: ${errOut || out}`)) : resolve(out),
    ),
  );
}

/** Bytes in the log dir; a file seen under two names while the writer rotates counts once. */
function logDirBytes(): number {
  const dir = path.join(home, 'logs', 'flood', 'production');
  const sizes = new Map<number, number>();
  for (const f of readdirSync(dir)) {
    try {
      const st = statSync(path.join(dir, f));
      sizes.set(st.ino, Math.max(st.size, sizes.get(st.ino) ?? 0));
    } catch {
      // rotated away meanwhile
    }
  }
  return [...sizes.values()].reduce((a, b) => a + b, 0);
}

/** Fields of /proc/<pid>/stat after the command name (the first is the state: field 3). */
function statFields(pid: number | 'self'): string[] {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/** CPU time (ms) of a process (utime + stime), or with `children`, of its waited-for children. */
function cpuMs(pid: number | 'self', children = false): number {
  const f = statFields(pid);
  const at = children ? 13 : 11; // utime, stime: fields 14, 15; cutime, cstime: 16, 17
  return ((Number(f[at]) + Number(f[at + 1])) * 1000) / 100; // USER_HZ
}

/** Memory of a process: resident, and its own (not shared with other processes), in KiB. */
function memoryKiB(pid: number): { rss: number; own: number } {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (re: RegExp) => [...rollup.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return { rss: kib(/^Rss:\s+(\d+) kB$/gm), own: kib(/^Private_(?:Clean|Dirty):\s+(\d+) kB$/gm) };
}

/** Mean wall and CPU time (ms) of `argv` started with no input, to its exit, `n` times one after the other. */
async function startCost(argv: string[], n: number): Promise<{ wall: number; cpu: number }> {
  const cpu0 = cpuMs('self', true);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++)
    await new Promise((done) => spawn(argv[0] as string, argv.slice(1), { stdio: 'ignore' }).once('exit', done));
  return { wall: Number(process.hrtime.bigint() - t0) / 1e6 / n, cpu: (cpuMs('self', true) - cpu0) / n };
}

try {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(home, 'config.yaml'), `log_max_bytes: ${MAX}\nlog_keep: ${KEEP}\n`);
  const dir = path.join(work, 'app');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'berth.yaml'),
    `app: flood\nservices:\n  web:\n    run: ["${process.execPath}", "${FLOOD}"]\n`,
  );
  const idle: number[] = [];
  await berth(['daemon', 'start']);
  const api = new ApiClient(path.join(home, 'berthd.sock'));
  const ps = async (into: number[]) => {
    const t0 = process.hrtime.bigint();
    await api.call('GET', '/v1/instances');
    into.push(Number(process.hrtime.bigint() - t0) / 1e6);
  };
  for (let i = 0; i < 50; i++) await ps(idle);
  await berth(['up', dir]);
  const during: number[] = [];
  let maxDisk = 0;
  const until = Date.now() + SECONDS * 1000;
  const disk = (async () => {
    while (Date.now() < until) {
      maxDisk = Math.max(maxDisk, logDirBytes());
      await sleep(20);
    }
  })();
  const log = path.join(home, 'logs', 'flood', 'production', 'web.0.r1.log');
  const writer = listPids().find((p) => procArgv(p).includes(log));
  if (writer === undefined) throw new Error(`no log writer for ${log}`);
  const writerCpu0 = cpuMs(writer);
  while (Date.now() < until) await ps(during);
  await disk;
  const writerMem = memoryKiB(writer);
  const writerCpu = (cpuMs(writer) - writerCpu0) / 1000;
  const [web] = JSON.parse(await berth(['ps', '--json'])) as Array<{ port: number }>;
  const { written } = (await (await fetch(`http://127.0.0.1:${web?.port}/`)).json()) as { written: number };
  await berth(['stop', 'flood']);
  const started = await startCost([logWriterPath(), path.join(work, 'start.log'), String(MAX), String(KEEP)], 200);
  const node = await startCost([process.execPath, '-e', ''], 20);
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${machine()}${envNote()}, ${SECONDS} s of flood, load average ${load}\n`,
  );
  console.log(
    table(
      ['measure', 'value'],
      [
        [
          'GET /v1/instances idle, p50 / max (ms)',
          `${percentile(idle, 50).toFixed(1)} / ${Math.max(...idle).toFixed(1)}`,
        ],
        [
          'GET /v1/instances during the flood, p50 / p95 / max (ms)',
          `${percentile(during, 50).toFixed(1)} / ${percentile(during, 95).toFixed(1)} / ${Math.max(...during).toFixed(1)}`,
        ],
        ['calls during the flood', String(during.length)],
        ['written by the app (MiB)', mib(written)],
        ['log dir, largest seen (MiB)', mib(maxDisk)],
        [`budget: log_max_bytes x (log_keep + 1) (MiB)`, mib(MAX * (KEEP + 1))],
        ['log writer while flooded: RSS / its own (KiB)', `${writerMem.rss} / ${writerMem.own}`],
        ['log writer CPU during the flood (s)', writerCpu.toFixed(1)],
        [
          'log writer start to exit, wall / CPU (ms, mean of 200)',
          `${started.wall.toFixed(1)} / ${started.cpu.toFixed(1)}`,
        ],
        ["`node -e ''` start to exit, wall / CPU (ms, mean of 20)", `${node.wall.toFixed(1)} / ${node.cpu.toFixed(1)}`],
      ],
    ),
  );
  const met = Math.max(...during) < 200 && maxDisk <= MAX * (KEEP + 1) + 1024;
  console.log(`\ntarget ps < 200 ms throughout, disk within budget: ${met ? 'met' : 'NOT met'}`);
} finally {
  await berth(['rm', 'flood', '--purge']).catch(() => undefined);
  await berth(['proxy', 'stop']).catch(() => undefined);
  await berth(['daemon', 'stop']).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
