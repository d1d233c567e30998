import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApiClient } from '../../src/api/client.js';
import type { RouteEntry, RouteTable } from '../../src/proxy/route-table.js';
import { REPO, waitFor } from './home.js';

const MAIN = path.join(REPO, 'dist', 'src', 'proxy', 'builtin', 'main.js');

/** The real builtin proxy process, started on its own (no berthd), driven over its control socket. */
export class ProxyProcess {
  readonly home: string;
  readonly port: number;
  child: ChildProcess | undefined;
  readonly #control: ApiClient;
  #version = 0;

  readonly #env: Record<string, string>;

  constructor(home: string, port: number, env: Record<string, string> = {}) {
    this.home = home;
    this.port = port;
    this.#env = env;
    this.#control = new ApiClient(path.join(home, 'proxy', 'control.sock'));
  }

  async start(): Promise<void> {
    const before = this.pid();
    this.child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        BERTH_HOME: this.home,
        BERTH_HTTP_PORT: String(this.port),
        BERTH_HTTP_ADDRESS: '127.0.0.1',
        ...this.#env,
      },
      stdio: 'ignore',
    });
    await waitFor(
      'the proxy to be ready',
      async () =>
        this.pid() !== before &&
        this.pid() === this.child?.pid &&
        (await this.#control.call('GET', '/v1/health').then(
          () => true,
          () => false,
        )),
    );
  }

  pid(): number | undefined {
    try {
      return Number(readFileSync(path.join(this.home, 'proxy', 'proxy.pid'), 'utf8').split(' ')[0]);
    } catch {
      return undefined;
    }
  }

  async routes(routes: Array<Partial<RouteEntry> & { host: string; upstreams: string[] }>): Promise<void> {
    const table: RouteTable = {
      version: ++this.#version,
      routes: routes.map((r) => ({ path: '/', strip: false, app: 'test', env: 'production', service: 'svc', ...r })),
    };
    await this.#control.call('PUT', '/v1/routes', table);
  }

  health(): Promise<{ pid: number; version: number; handedOver: number }> {
    return this.#control.call('GET', '/v1/health');
  }

  table(): Promise<RouteTable> {
    return this.#control.call<RouteTable>('GET', '/v1/routes');
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise((r) => {
      child.once('exit', () => r());
      child.kill(signal);
    });
  }
}

/**
 * A wrk Lua script (written into `dir`, its path returned) that counts the answers other than 200 by second (unix
 * time) and status and prints them when wrk ends ("not 200: <second> <status> x<count>"): a failure under load says
 * when and what.
 */
export function statusScript(dir: string): string {
  const file = path.join(dir, 'wrk-statuses.lua');
  writeFileSync(file, STATUS_SCRIPT);
  return file;
}

const STATUS_SCRIPT = `bad = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status ~= 200 then
    local key = os.time() .. " " .. status
    bad[key] = (bad[key] or 0) + 1
  end
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for key, n in pairs(t:get("bad")) do io.write("not 200: " .. key .. " x" .. n .. "\\n") end
  end
end
`;

/**
 * Runs wrk against a URL and returns its counts; wrk does not retry, so every failure shows.
 * With `until`, the load lasts exactly as long as that work (wrk stops on SIGINT and still prints
 * its summary), so a slow machine never leaves part of the work unloaded; `seconds` is then a cap.
 * With `hosts`, wrk resolves the URL's name by that hosts file, bound over /etc/hosts in a mount namespace
 * of its own (root only): an HTTPS URL then sends its name as SNI, as a browser would.
 */
export async function wrk(
  url: string,
  opts: {
    connections: number;
    seconds: number;
    host: string;
    threads?: number;
    until?: Promise<unknown>;
    hosts?: string;
    /** A wrk Lua script's path (statusScript). */
    script?: string;
  },
): Promise<{ requests: number; errors: number; connect: number; timeout: number; non2xx: number; output: string }> {
  const { execFile } = await import('node:child_process');
  const args = [
    '-t',
    String(opts.threads ?? 2),
    '-c',
    String(opts.connections),
    '-d',
    `${opts.seconds}s`,
    '--timeout',
    '5s',
    ...(opts.script ? ['-s', opts.script] : []),
    '-H',
    `Host: ${opts.host}`,
    url,
  ];
  const output = await new Promise<string>((resolve, reject) => {
    const [command, argv] = opts.hosts
      ? [
          'unshare',
          [
            '--mount',
            '--propagation',
            'private',
            'sh',
            '-c',
            'mount --bind "$0" /etc/hosts && exec wrk "$@"',
            opts.hosts,
            ...args,
          ],
        ]
      : ['wrk', args];
    const child = execFile(command, argv, { timeout: (opts.seconds + 30) * 1000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`wrk: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
    const stop = () => child.kill('SIGINT');
    opts.until?.then(stop, stop);
  });
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? NaN);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  // Connections refused (or reset) on connect, and requests that got no answer in 5 s.
  const connect = Number(sock?.[1] ?? 0);
  const timeout = Number(sock?.[4] ?? 0);
  return { requests, errors, connect, timeout, non2xx, output };
}
