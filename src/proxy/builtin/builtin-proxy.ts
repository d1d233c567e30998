import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { ApiClient, ApiError } from '../../api/client.js';
import { BerthError } from '../../core/errors.js';
import { tailLines } from '../../runtime/log-files.js';
import { isSameProcessAlive, procEnvValue } from '../../system/proc.js';
import { endProcesses, findProcesses, type ProxyProcess } from '../edge/own-processes.js';
import type { Proxy, ProxyCapabilities } from '../proxy.js';
import type { RouteTable } from '../route-table.js';
import { Serial } from '../serial.js';
import { proxyPaths } from './paths.js';
import type { LeftoverProcess, ProxyStatus } from '../../core/results.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export interface BuiltinProxyOptions {
  readonly home: string;
  readonly port: number;
  readonly address: string;
  readonly log: Logger;
  /** How long the proxy waits for an upstream's response head before a 504. Default 60 s. */
  readonly upstreamTimeoutMs?: number | undefined;
}

/**
 * berthd's side of the builtin proxy: starts it as its own detached process (or adopts
 * the one already running), restarts it if it dies, and pushes route tables to it over
 * its control socket. The proxy outlives berthd.
 */
export class BuiltinProxy implements Proxy {
  readonly kind = 'builtin';
  readonly capabilities: ProxyCapabilities = { static: true, websocket: true, tls: false, hotSwap: true };
  readonly #o: BuiltinProxyOptions;
  readonly #paths: ReturnType<typeof proxyPaths>;
  readonly #control: ApiClient;
  readonly #serial = new Serial();
  #last: RouteTable | undefined;

  constructor(o: BuiltinProxyOptions) {
    this.#o = o;
    this.#paths = proxyPaths(o.home);
    this.#control = new ApiClient(this.#paths.control);
  }

  #running(): { pid: number; startTicks: string; port: number } | undefined {
    try {
      const [pid, startTicks, port] = readFileSync(this.#paths.pid, 'utf8').trim().split(' ');
      const p = { pid: Number(pid), startTicks: startTicks ?? '', port: Number(port) };
      return isSameProcessAlive(p.pid, p.startTicks) ? p : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether the operator wants the proxy running (`berth proxy stop` says no, until `start`). */
  wanted(): boolean {
    return !existsSync(this.#paths.stoppedMarker);
  }

  start(): Promise<void> {
    return this.#serial.run(async () => {
      rmSync(this.#paths.stoppedMarker, { force: true });
      await this.#ensure();
    });
  }

  /** Every builtin proxy process of this BERTH_HOME (its main module, with this BERTH_HOME). */
  #processes(): ProxyProcess[] {
    return findProcesses((argv, pid) => argv[1] === MAIN && procEnvValue(pid, 'BERTH_HOME') === this.#o.home);
  }

  leftovers(): LeftoverProcess[] {
    const serving = this.#running()?.pid;
    return this.#processes()
      .filter((p) => p.pid !== serving)
      .map((p) => ({ pid: p.pid, command: p.command, what: 'the builtin proxy' }));
  }

  async #ensure(): Promise<void> {
    const running = this.#running();
    if (running && running.port === this.#o.port) {
      if (this.#last) await this.#push(this.#last).catch(() => undefined);
      return;
    }
    if (running) {
      this.#o.log.info({ from: running.port, to: this.#o.port }, 'HTTP port changed: restarting the proxy');
      await this.#kill();
    }
    const stale = this.#processes();
    if (stale.length > 0) {
      this.#o.log.warn(
        { pids: stale.map((p) => p.pid) },
        'ending builtin proxy processes of this BERTH_HOME without its pid file',
      );
      await endProcesses(stale);
    }
    mkdirSync(this.#paths.dir, { recursive: true, mode: 0o700 });
    const out = openSync(this.#paths.log, 'a', 0o600);
    const env = {
      PATH: process.env.PATH ?? '',
      BERTH_HOME: this.#o.home,
      BERTH_HTTP_PORT: String(this.#o.port),
      BERTH_HTTP_ADDRESS: this.#o.address,
      BERTH_UPSTREAM_TIMEOUT_MS: String(this.#o.upstreamTimeoutMs ?? 60_000),
    };
    const child = spawn(process.execPath, [MAIN], { detached: true, stdio: ['ignore', out, out], env, shell: false });
    closeSync(out);
    child.unref();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) break;
      if (this.#running()) {
        this.#o.log.info({ pid: child.pid, port: this.#o.port }, 'proxy started');
        if (this.#last) await this.#push(this.#last);
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new BerthError(
      'failed',
      'proxy_start_failed',
      `the builtin proxy did not start on port ${this.#o.port}: ${tailLines(this.#paths.log, 3).join(' | ')}`,
      {
        hint: 'is another program using that port? set http_port in config.yaml or BERTH_HTTP_PORT',
      },
    );
  }

  /** Restarts the proxy when it died (unless the operator stopped it); called periodically by berthd. */
  watch(): Promise<void> {
    return this.#serial.run(async () => {
      if (this.wanted() && this.#running()?.port !== this.#o.port) await this.#ensure();
    });
  }

  apply(table: RouteTable): Promise<void> {
    return this.#serial.run(async () => {
      this.#last = table;
      if (!this.wanted()) return; // stopped on purpose: the table is pushed when it starts again
      try {
        await this.#push(table);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 'unreachable')) throw err;
        await this.#ensure(); // starts it (it reloads its own file), then pushes this table
      }
    });
  }

  async #push(table: RouteTable): Promise<void> {
    await this.#control.call('PUT', '/v1/routes', table);
  }

  async current(): Promise<RouteTable | undefined> {
    try {
      return await this.#control.call<RouteTable>('GET', '/v1/routes');
    } catch {
      return undefined;
    }
  }

  async inflight(upstreams: readonly string[]): Promise<number> {
    const counts = await this.#control.call<Record<string, number>>('GET', '/v1/inflight');
    return upstreams.reduce((n, u) => n + (counts[u] ?? 0), 0);
  }

  async status(): Promise<ProxyStatus> {
    const r = this.#running();
    const leftovers = this.leftovers();
    if (!r)
      return {
        kind: this.kind,
        running: false,
        ...(leftovers.length ? { leftovers } : {}),
        ...(this.wanted()
          ? { problem: `not running; last lines of ${this.#paths.log}: ${tailLines(this.#paths.log, 3).join(' | ')}` }
          : { problem: 'stopped with `berth proxy stop`' }),
      };
    const h = await this.#control.call<{ version: number; routes: number }>('GET', '/v1/health').catch(() => undefined);
    return {
      kind: this.kind,
      running: true,
      pid: r.pid,
      port: r.port,
      ports: { http: r.port },
      ...(h ? { version: h.version, routes: h.routes } : {}),
      ...(leftovers.length ? { leftovers } : {}),
    };
  }

  /** Marks the proxy stopped (the watcher leaves it so), then ends it and any other of this BERTH_HOME. */
  stop(): Promise<void> {
    return this.#serial.run(async () => {
      mkdirSync(this.#paths.dir, { recursive: true, mode: 0o700 });
      writeFileSync(this.#paths.stoppedMarker, `stopped by berth proxy stop at ${new Date().toISOString()}\n`);
      await this.#kill();
      await endProcesses(this.#processes());
    });
  }

  async #kill(): Promise<void> {
    const r = this.#running();
    if (!r) return;
    process.kill(r.pid, 'SIGTERM');
    for (let i = 0; i < 200 && isSameProcessAlive(r.pid, r.startTicks); i++)
      await new Promise((res) => setTimeout(res, 25));
    if (isSameProcessAlive(r.pid, r.startTicks)) process.kill(r.pid, 'SIGKILL');
  }
}
