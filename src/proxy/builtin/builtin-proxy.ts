import type { RouteCounters } from './route-stats.js';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { ApiClient, ApiError } from '../../api/client.js';
import { tailLines } from '../../runtime/log-files.js';
import { isSameProcessAlive, procEnvValue } from '../../system/proc.js';
import { endProcesses, findProcesses, type ProxyProcess } from '../edge/own-processes.js';
import type { Proxy, ProxyCapabilities } from '../proxy.js';
import type { RouteTable } from '../route-table.js';
import { Serial } from '../serial.js';
import { KEEPER, startKeeper } from './keeper-start.js';
import { proxyPaths } from './paths.js';
import type { LeftoverProcess, ProxyStatus } from '../../core/results.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

/** A process named by one of the proxy's pid files. */
interface Named {
  readonly pid: number;
  readonly startTicks: string;
  readonly port: number;
}

/** The proxy as it runs: its keeper (which holds the sockets) and the worker serving, either possibly between lives. */
interface Running {
  readonly port: number;
  readonly keeper: Named | undefined;
  readonly worker: Named | undefined;
}

export interface BuiltinProxyOptions {
  readonly home: string;
  readonly port: number;
  readonly address: string;
  readonly log: Logger;
  /** How long the proxy waits for an upstream's response head before a 504. Default 60 s. */
  readonly upstreamTimeoutMs?: number | undefined;
}

/**
 * berthd's side of the builtin proxy: binds its listening sockets and starts its keeper
 * (keeper.ts, a detached process of its own, which runs the proxy and restarts it at once
 * when it dies), or adopts the one already running; starts a new one if both are gone; and
 * pushes route tables to the proxy over its control socket. The proxy outlives berthd.
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

  #named(file: string): Named | undefined {
    try {
      const [pid, startTicks, port] = readFileSync(file, 'utf8').trim().split(' ');
      const p = { pid: Number(pid), startTicks: startTicks ?? '', port: Number(port) };
      return isSameProcessAlive(p.pid, p.startTicks) ? p : undefined;
    } catch {
      return undefined;
    }
  }

  /** Running while its keeper runs (a worker may be starting) or a worker serves (its keeper was killed). */
  #running(): Running | undefined {
    const keeper = this.#named(this.#paths.keeperPid);
    const worker = this.#named(this.#paths.pid);
    const port = keeper?.port ?? worker?.port;
    return port === undefined ? undefined : { port, keeper, worker };
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

  /** Every builtin proxy process of this BERTH_HOME (its keeper or main module, with this BERTH_HOME). */
  #processes(): ProxyProcess[] {
    return findProcesses(
      (argv, pid) => (argv[1] === MAIN || argv[1] === KEEPER) && procEnvValue(pid, 'BERTH_HOME') === this.#o.home,
    );
  }

  leftovers(): LeftoverProcess[] {
    const r = this.#running();
    const ours = new Set([r?.keeper?.pid, r?.worker?.pid]);
    return this.#processes()
      .filter((p) => !ours.has(p.pid))
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
    await startKeeper({ ...this.#o, paths: this.#paths, worker: () => this.#named(this.#paths.pid) });
    if (this.#last) await this.#push(this.#last);
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

  /** Requests and latency per route since the proxy started; empty when it does not run. */
  async routeCounters(): Promise<RouteCounters[]> {
    return this.#control.call<RouteCounters[]>('GET', '/v1/stats').catch(() => []);
  }

  async inflight(upstreams: readonly string[]): Promise<number> {
    const counts = await this.#control.call<Record<string, number>>('GET', '/v1/inflight');
    return upstreams.reduce((n, u) => n + (counts[u] ?? 0), 0);
  }

  async status(): Promise<ProxyStatus> {
    const r = this.#running();
    const leftovers = this.leftovers();
    const pid = r?.worker?.pid ?? r?.keeper?.pid;
    if (!r || pid === undefined)
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
      pid,
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

  /** Ends the keeper (which ends its worker) and the worker, SIGKILL after 5 s. */
  async #kill(): Promise<void> {
    const r = this.#running();
    if (!r) return;
    // The keeper alone first: it ends its worker and starts no other. Signalled at once, the worker could end
    // before the keeper heard, and be replaced. Then the worker, in case it ran unkept or outlived its keeper.
    const end = (p: Named | undefined) =>
      p ? endProcesses([{ pid: p.pid, startTicks: p.startTicks, command: '' }]) : Promise.resolve();
    await end(r.keeper);
    await end(r.worker);
  }
}
