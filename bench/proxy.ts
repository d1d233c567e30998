/**
 * bench/proxy: the builtin proxy against nginx and Caddy, each as a plain reverse proxy in front
 * of the same Node backend, and against a direct connection to that backend.
 * (1) Flat out: wrk, 2 threads, 50 keep-alive connections: requests/s, p50, p99, and the proxy's
 *     CPU time per request (utime + stime of its processes, from /proc).
 * (2) About 1,000 requests/s: wrk again, 50 connections pausing 40-60 ms between requests, in
 *     rounds that take every target in turn (so a busy moment of the machine hits all of them
 *     alike): medians over the rounds of p50, p99, CPU per request, and the p99 overhead against
 *     `direct` in the same round (target: builtin < 1 ms).
 * (3) kill -9: the serving process (the builtin proxy's worker; nginx's worker) is killed with
 *     SIGKILL a few times under the paced load, while new connections are opened in a loop: the
 *     requests that failed, and the new connections refused.
 * Run: `npm run build && node dist/bench/proxy.js` (needs wrk, nginx and caddy from Debian).
 * BENCH_REPO=<another clone, built> adds its builtin proxy as `builtin@base`, in the same rounds (A/B).
 * BENCH_PORT_BASE (default 18700) moves the ports: the backend on it + 1, the targets on + 2 to + 6.
 * `node relay` is no HTTP proxy: a bare byte relay in Node, the floor of any proxy written in Node here.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { machine, percentile, sleep, table } from './lib.js';
import { backend, builtin, caddy, cpuMicros, nginx, relay, type Target } from './proxy-targets.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 5);
const KILLS = Number(process.env.BENCH_KILLS ?? 3);
/** The backend listens on BASE_PORT + 1, the targets on the next five (the base build's on + 5). */
const BASE_PORT = Number(process.env.BENCH_PORT_BASE ?? 18700);
const BACKEND_PORT = BASE_PORT + 1;
/** Another clone (built) whose builtin proxy runs beside this one's in the same rounds, as `builtin@base`. */
const BASE = process.env.BENCH_REPO;

interface Load {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time of the target's processes per request, in microseconds. */
  cpu: number;
}

function ms(value: string, unit: string): number {
  return Number(value) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]!;
}

/** wrk against the target; `paced` makes each of the 50 connections wait 40-60 ms (random) between requests. */
async function load(t: Target, seconds: number, paced: boolean): Promise<Load> {
  const pids = t.pids();
  const cpu0 = cpuMicros(pids);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      'wrk',
      [
        '-t2',
        '-c50',
        `-d${seconds}s`,
        '--latency',
        ...(paced ? ['-s', DELAY_SCRIPT] : []),
        '-H',
        'Host: bench.test',
        `http://127.0.0.1:${t.port}/`,
      ],
      { timeout: (seconds + 60) * 1000 },
      (err, stdout, stderr) => (err ? reject(new Error(`wrk: ${err.message}\n${stderr}`)) : resolve(stdout)),
    ),
  );
  const cpu = cpuMicros(pids) - cpu0;
  const pick = (p: string) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    requests,
    p50: pick('50'),
    p99: pick('99'),
    errors:
      (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + Number(/Non-2xx.*: (\d+)/.exec(out)?.[1] ?? 0),
    cpu: cpu / requests,
  };
}

/** New connections, one request each, 4 at a time until `until` settles: answered, and refused (or reset) on connect. */
async function connectLoop(port: number, until: Promise<unknown>): Promise<{ ok: number; refused: number }> {
  const out = { ok: 0, refused: 0 };
  let done = false;
  until.then(
    () => (done = true),
    () => (done = true),
  );
  const one = () =>
    new Promise<void>((resolve) => {
      let connected = false;
      let got = '';
      const s = connect({ port, host: '127.0.0.1' }, () => {
        connected = true;
        s.write('GET / HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n');
      });
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.on('error', () => (connected ? undefined : out.refused++));
      s.on('close', () => {
        if (got.startsWith('HTTP/1.1 200')) out.ok++;
        resolve();
      });
    });
  await Promise.all(
    [0, 1, 2, 3].map(async () => {
      while (!done) await one();
    }),
  );
  return out;
}

/** The paced load for 4 s per kill while the target's serving process is killed with SIGKILL, `KILLS` times. */
async function killCase(t: Target): Promise<string[]> {
  const seconds = 4 * KILLS + 2;
  const killing = (async () => {
    for (let i = 0; i < KILLS; i++) {
      await sleep(2000);
      const victim = t.victim!();
      if (victim) process.kill(victim, 'SIGKILL');
      await sleep(2000);
    }
  })();
  const [r, fresh] = await Promise.all([load(t, seconds, true), connectLoop(t.port, killing)]);
  await killing;
  return [t.name, String(KILLS), String(r.requests), String(r.errors), String(fresh.ok), String(fresh.refused)];
}

const home = mkdtempSync(path.join(tmpdir(), 'berth-bench-proxy-'));
const DELAY_SCRIPT = path.join(home, 'delay.lua');
writeFileSync(DELAY_SCRIPT, 'function delay()\n  return 40 + math.random(20)\nend\n');
const loadBefore = loadavg();
const targets: Target[] = [];
try {
  targets.push(await backend(BACKEND_PORT));
  targets.push(await builtin(home, BASE_PORT + 2, BACKEND_PORT));
  if (BASE) targets.push(await builtin(path.join(home, 'base'), BASE_PORT + 5, BACKEND_PORT, BASE));
  targets.push(await nginx(home, BASE_PORT + 3, BACKEND_PORT));
  targets.push(await caddy(home, BASE_PORT + 4, BACKEND_PORT));
  targets.push(await relay(BASE_PORT + 6, BACKEND_PORT));
  for (const t of targets) await load(t, 3, false); // warm up (the builtin proxy's JIT), not counted
  const flat: Load[] = [];
  for (const t of targets) flat.push(await load(t, SECONDS, false));
  const paced: Load[][] = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++)
    for (const [i, t] of targets.entries()) paced[i]!.push(await load(t, PACED_SECONDS, true));
  const median = (values: number[]) => percentile(values, 50);
  const overhead = (i: number) => median(paced[i]!.map((x, round) => x.p99 - paced[0]![round]!.p99));
  const rows = targets.map((t, i) => {
    const f = flat[i]!;
    const p = paced[i]!;
    return [
      t.name,
      f.rps.toFixed(0),
      f.p99.toFixed(2),
      f.cpu.toFixed(0),
      String(f.errors + p.reduce((n, x) => n + x.errors, 0)),
      median(p.map((x) => x.rps)).toFixed(0),
      median(p.map((x) => x.p50)).toFixed(2),
      median(p.map((x) => x.p99)).toFixed(2),
      median(p.map((x) => x.cpu)).toFixed(0),
      i === 0 ? '-' : overhead(i).toFixed(2),
    ];
  });
  const kills = [];
  for (const t of targets) if (t.victim) kills.push(await killCase(t));
  const cpu = (i: number) => median(paced[i]!.map((x) => x.cpu));
  const at = (name: string) => targets.findIndex((t) => t.name === name);
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${machine()}, load average ${loadBefore.map((x) => x.toFixed(1)).join(' ')} before and ${loadavg()
      .map((x) => x.toFixed(1))
      .join(
        ' ',
      )} after; flat out ${SECONDS} s per target, paced ${ROUNDS} rounds x ${PACED_SECONDS} s per target; backend: node http 'ok'\n`,
  );
  console.log(
    table(
      [
        'target',
        'flat req/s',
        'p99 ms',
        'CPU us/req',
        'errors',
        'paced req/s',
        'p50 ms',
        'p99 ms',
        'CPU us/req',
        'p99 overhead ms',
      ],
      rows,
    ),
  );
  const [b, n, c, r] = [at('builtin'), at('nginx'), at('caddy'), at('node relay')];
  console.log(
    `\nbuiltin CPU per request (paced) ${(cpu(b) / cpu(n)).toFixed(2)} x nginx's (target <= 1.5), ${(cpu(b) / cpu(c)).toFixed(2)} x Caddy's; p99 overhead at 1,000 req/s ${overhead(b).toFixed(2)} ms (target < 1 ms)`,
  );
  console.log(
    `a bare byte relay in Node (no HTTP): ${(cpu(r) / cpu(n)).toFixed(2)} x nginx's; the builtin proxy is ${(cpu(b) / cpu(r)).toFixed(2)} x the relay's`,
  );
  if (BASE) {
    const base = at('builtin@base');
    console.log(
      `builtin@base (${BASE}): CPU per request (paced) ${(cpu(base) / cpu(n)).toFixed(2)} x nginx's; this build's is ${(cpu(b) / cpu(base)).toFixed(2)} x base's; p99 overhead ${overhead(base).toFixed(2)} ms`,
    );
  }
  console.log(`\nkill -9 of the serving process, ${KILLS} times under the paced load:\n`);
  console.log(
    table(['target', 'kills', 'requests', 'failed', 'new connections answered', 'new connections refused'], kills),
  );
} finally {
  for (const t of targets.reverse()) await t.stop().catch(() => undefined);
  rmSync(home, { recursive: true, force: true });
}
