/**
 * The reverse proxies bench/proxy compares, each alone in front of the same backend: the
 * builtin proxy as berthd runs it (its keeper and worker, a route pushed over its control
 * socket), nginx (one worker, upstream keep-alive) and Caddy (`reverse_proxy`), and a bare byte
 * relay in Node (the floor of any proxy written in Node here), with the processes whose CPU time counts for each. Every server runs in a session of its own, as
 * services do (berthd starts the keeper so): with the kernel's autogroup scheduling, a process
 * in wrk's session gets its CPU share together with wrk, which flattered a proxy started that way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { BuiltinProxy } from '../src/proxy/builtin/builtin-proxy.js';
import { listPids, procStat } from '../src/system/proc.js';
import { sleep } from './lib.js';

export interface Target {
  readonly name: string;
  readonly port: number;
  /** The processes doing this target's work now (for CPU time). */
  pids(): number[];
  /** The process a kill -9 case kills: the one serving (the builtin proxy's worker, nginx's worker). */
  victim?(): number | undefined;
  stop(): Promise<void>;
}

/** utime + stime of the processes, in microseconds (clock ticks are 10 ms). */
export function cpuMicros(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      ticks += Number(rest[11]) + Number(rest[12]);
    } catch {
      // gone
    }
  }
  return ticks * 10_000;
}

function childrenOf(pid: number): number[] {
  return listPids().filter((p) => procStat(p)?.ppid === pid);
}

async function waitPort(port: number, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = connect({ port, host: '127.0.0.1' }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(`${what} does not listen on ${port}: is the port taken? (stop what holds it)`);
}

function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

export async function backend(port: number): Promise<Target> {
  const child = spawn(
    process.execPath,
    ['-e', `require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`],
    { stdio: 'ignore', detached: true },
  );
  await waitPort(port, 'the backend');
  return { name: 'direct', port, pids: () => [child.pid!], stop: () => killChild(child) };
}

/**
 * No HTTP at all: each client connection gets an upstream connection of its own and every read
 * is written to the other side (upstream reads into one shared buffer, as the builtin proxy's
 * do). What a proxy in Node costs here before it parses, routes or re-frames anything.
 */
const RELAY = `const net = require('net');
const shared = Buffer.allocUnsafeSlow(65536);
net.createServer({ noDelay: true }, (c) => {
  const u = net.connect({ port: Number(process.argv[2]), host: '127.0.0.1', noDelay: true,
    onread: { buffer: shared, callback: (n) => { c.write(shared.latin1Slice(0, n), 'latin1'); return true; } } });
  c.on('data', (d) => u.write(d));
  c.on('close', () => u.destroy()); u.on('close', () => c.destroy());
  c.on('error', () => {}); u.on('error', () => {});
}).listen(Number(process.argv[1]), '127.0.0.1');`;

export async function relay(port: number, upstream: number): Promise<Target> {
  const child = spawn(process.execPath, ['-e', RELAY, String(port), String(upstream)], {
    stdio: 'ignore',
    detached: true,
  });
  await waitPort(port, 'the relay');
  return { name: 'node relay', port, pids: () => [child.pid!], stop: () => killChild(child) };
}

/**
 * The builtin proxy of this build, or with `repo` the one built in another clone (`BENCH_REPO`: its
 * dist/, loaded from there, so its keeper and worker run that clone's code), named `builtin@base`.
 */
export async function builtin(home: string, port: number, upstream: number, repo?: string): Promise<Target> {
  const Impl: typeof BuiltinProxy = repo
    ? (
        (await import(path.resolve(repo, 'dist/src/proxy/builtin/builtin-proxy.js'))) as {
          BuiltinProxy: typeof BuiltinProxy;
        }
      ).BuiltinProxy
    : BuiltinProxy;
  const proxy = new Impl({ home, port, address: '127.0.0.1', log: pino({ level: 'warn' }) });
  await proxy.start();
  await proxy.apply({
    version: 1,
    routes: [
      {
        host: 'bench.test',
        path: '/',
        strip: false,
        app: 'bench',
        env: 'production',
        service: 'web',
        upstreams: [`127.0.0.1:${upstream}`],
      },
    ],
  });
  const pidOf = (file: string) => Number(readFileSync(path.join(home, 'proxy', file), 'utf8').split(' ')[0]);
  return {
    name: repo ? 'builtin@base' : 'builtin',
    port,
    pids: () => [pidOf('keeper.pid'), pidOf('proxy.pid')],
    victim: () => pidOf('proxy.pid'),
    stop: () => proxy.stop(),
  };
}

export async function nginx(dir: string, port: number, upstream: number): Promise<Target> {
  const conf = path.join(dir, 'nginx-plain.conf');
  writeFileSync(
    conf,
    `daemon off; worker_processes 1; pid ${dir}/nginx-plain.pid; error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:${upstream}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  );
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'ignore', detached: true });
  await waitPort(port, 'nginx');
  return {
    name: 'nginx',
    port,
    pids: () => [child.pid!, ...childrenOf(child.pid!)],
    victim: () => childrenOf(child.pid!)[0],
    stop: () => killChild(child),
  };
}

export async function caddy(dir: string, port: number, upstream: number): Promise<Target> {
  const conf = path.join(dir, 'caddy-plain.json');
  writeFileSync(
    conf,
    JSON.stringify({
      admin: { disabled: true },
      logging: { logs: { default: { level: 'ERROR' } } },
      apps: {
        http: {
          servers: {
            plain: {
              listen: [`127.0.0.1:${port}`],
              automatic_https: { disable: true },
              routes: [{ handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: `127.0.0.1:${upstream}` }] }] }],
            },
          },
        },
      },
    }),
  );
  const child = spawn('caddy', ['run', '--config', conf], {
    stdio: 'ignore',
    detached: true,
    env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
  await waitPort(port, 'caddy');
  return { name: 'caddy', port, pids: () => [child.pid!], stop: () => killChild(child) };
}
