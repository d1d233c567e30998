/**
 * bench/proxy: the builtin proxy against a direct connection to the same backend.
 * (1) Saturation: wrk, 2 threads, 50 keep-alive connections, 10 s: requests/s, p50, p99.
 * (2) About 1,000 requests/s: wrk again, 50 connections pausing 40-60 ms between requests,
 *     in rounds that take every target in turn (so a busy moment of the machine hits all of
 *     them alike): median p50 and p99 over the rounds, and the proxy's p99 overhead per round
 *     against `direct` in the same round (target: median < 1 ms).
 * Edges as Berth runs them: nginx and Caddy in front of the builtin proxy, side by side.
 * Run: `npm run build && node dist/bench/proxy.js` (needs wrk, nginx and caddy from Debian).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ApiClient } from '../src/api/client.js';
import { CaddyEdge } from '../src/proxy/caddy/caddy-edge.js';
import { NginxEdge } from '../src/proxy/nginx/nginx-edge.js';
import { machine, percentile, sleep, table } from './lib.js';

const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 5);
const BACKEND_PORT = 18701;
const PROXY_PORT = 18702;

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: (SECONDS + 60) * 1000, maxBuffer: 1 << 24 }, (err, out, errOut) =>
      err ? reject(new Error(`${cmd}: ${err.message}\n${errOut}`)) : resolve(out),
    ),
  );
}

function ms(value: string, unit: string): number {
  return Number(value) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]!;
}

async function saturate(
  port: number,
  host: string,
  script?: string,
  seconds = SECONDS,
): Promise<{ rps: number; p50: number; p99: number; errors: string }> {
  const out = await run('wrk', [
    '-t2',
    '-c50',
    `-d${seconds}s`,
    '--latency',
    ...(script ? ['-s', script] : []),
    '-H',
    `Host: ${host}`,
    `http://127.0.0.1:${port}/`,
  ]);
  const pick = (p: string) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  const sock = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none';
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: pick('50'),
    p99: pick('99'),
    errors: non2xx ? `${sock}; non-2xx ${non2xx}` : sock,
  };
}

/**
 * About 1,000 requests/s: 50 wrk connections, each waiting 40-60 ms (random) between
 * requests. The jitter spreads the requests out; a fixed per-worker rate (hey -q) fires
 * them in bursts of 50 and measures queueing, not the proxy.
 */
async function fixedRate(
  port: number,
  host: string,
): Promise<{ rps: number; p50: number; p99: number; errors: string }> {
  return saturate(port, host, DELAY_SCRIPT, PACED_SECONDS);
}

const NGINX_PORT = 18703;
const CADDY_PORT = 18704;
const home = mkdtempSync(path.join(tmpdir(), 'berth-bench-proxy-'));
const log = pino({ level: 'warn' });
const site = [{ app: 'bench', hosts: ['bench.test'], tls: { 'bench.test': 'off' as const } }];
const nginx = new NginxEdge({
  home,
  log,
  binary: 'nginx',
  httpPort: NGINX_PORT,
  httpsPort: NGINX_PORT + 100,
  upstreamPort: PROXY_PORT,
  certDir: path.join(home, 'live'),
});
const caddy = new CaddyEdge({
  home,
  log,
  binary: 'caddy',
  httpPort: CADDY_PORT,
  httpsPort: CADDY_PORT + 100,
  upstreamPort: PROXY_PORT,
});
const DELAY_SCRIPT = path.join(home, 'delay.lua');
writeFileSync(DELAY_SCRIPT, 'function delay()\n  return 40 + math.random(20)\nend\n');
const backend = spawn(
  process.execPath,
  ['-e', `require('http').createServer((q, s) => s.end('ok')).listen(${BACKEND_PORT}, '127.0.0.1')`],
  { stdio: 'ignore' },
);
const proxy = spawn(process.execPath, [path.join(REPO, 'dist', 'src', 'proxy', 'builtin', 'main.js')], {
  env: {
    PATH: process.env.PATH,
    BERTH_HOME: home,
    BERTH_HTTP_PORT: String(PROXY_PORT),
    BERTH_HTTP_ADDRESS: '127.0.0.1',
  },
  stdio: 'ignore',
});
try {
  await sleep(1000);
  if (backend.exitCode !== null || proxy.exitCode !== null)
    throw new Error(`ports ${BACKEND_PORT}/${PROXY_PORT} are taken: stop what holds them and run again`);
  const control = new ApiClient(path.join(home, 'proxy', 'control.sock'));
  await control.call('PUT', '/v1/routes', {
    version: 1,
    routes: [
      {
        host: 'bench.test',
        path: '/',
        strip: false,
        app: 'bench',
        env: 'production',
        service: 'web',
        upstreams: [`127.0.0.1:${BACKEND_PORT}`],
      },
    ],
  });
  await nginx.start();
  await nginx.applySites(site);
  await caddy.start();
  await caddy.applySites(site);
  const targets = [
    ['direct', BACKEND_PORT],
    ['builtin', PROXY_PORT],
    ['nginx -> builtin', NGINX_PORT],
    ['caddy -> builtin', CADDY_PORT],
  ] as const;
  const saturated: Array<Awaited<ReturnType<typeof saturate>>> = [];
  for (const [, port] of targets) saturated.push(await saturate(port, 'bench.test'));
  const paced: Array<Array<Awaited<ReturnType<typeof fixedRate>>>> = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++)
    for (const [i, [, port]] of targets.entries()) paced[i]!.push(await fixedRate(port, 'bench.test'));
  const median = (values: number[]) => percentile(values, 50);
  const rows = targets.map(([name], i) => {
    const s = saturated[i]!;
    const f = paced[i]!;
    const errors = [...new Set([s.errors, ...f.map((x) => x.errors)])].filter((e) => e !== 'none').join('; ') || 'none';
    return [
      name,
      s.rps.toFixed(0),
      s.p50.toFixed(2),
      s.p99.toFixed(2),
      errors,
      median(f.map((x) => x.rps)).toFixed(0),
      median(f.map((x) => x.p50)).toFixed(2),
      median(f.map((x) => x.p99)).toFixed(2),
    ];
  });
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${machine()}, saturation ${SECONDS} s per target, paced ${ROUNDS} rounds x ${PACED_SECONDS} s per target, backend: node http 'ok'\n`,
  );
  console.log(
    table(
      ['target', 'max req/s (50 conns)', 'p50 ms', 'p99 ms', 'socket errors', 'req/s (paced)', 'p50 ms', 'p99 ms'],
      rows,
    ),
  );
  const overhead = paced[1]!.map((x, round) => x.p99 - paced[0]![round]!.p99);
  console.log(
    `\nbuiltin p99 overhead at 1,000 req/s: median ${median(overhead).toFixed(2)} ms over ${ROUNDS} rounds (each: ${overhead.map((x) => x.toFixed(2)).join(', ')}; target < 1 ms)`,
  );
} finally {
  await nginx.stop().catch(() => undefined);
  await caddy.stop().catch(() => undefined);
  proxy.kill();
  backend.kill();
  rmSync(home, { recursive: true, force: true });
}
