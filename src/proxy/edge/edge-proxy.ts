import type { Logger } from 'pino';
import type { BuiltinProxy } from '../builtin/builtin-proxy.js';
import type { RouteCounters } from '../builtin/route-stats.js';
import type { EdgeRoute, Proxy, ProxyCapabilities, TlsHandshake } from '../proxy.js';
import type { RouteTable } from '../route-table.js';
import { Serial } from '../serial.js';
import type { ProxyProcess } from './own-processes.js';
import { sitesOf, type Site } from './sites.js';
import type { LeftoverProcess, ProxyStatus } from '../../core/results.js';

/** What every edge adapter is given. */
export interface EdgeOptions {
  readonly home: string;
  readonly log: Logger;
  /** The edge's binary (Debian: apt-get install caddy / nginx). */
  readonly binary: string;
  /** Public ports the edge listens on. */
  readonly httpPort: number;
  readonly httpsPort: number;
  /** The builtin proxy behind the edge, on 127.0.0.1. */
  readonly upstreamPort: number;
}

/** An edge server in front of the builtin proxy: it terminates HTTP(S) by hostname. */
export interface Edge {
  readonly kind: string;
  /** The public HTTP port. */
  readonly port: number;
  /** The public HTTPS port. */
  readonly httpsPort: number;
  start(): Promise<void>;
  watch(): Promise<void>;
  stop(): Promise<void>;
  applySites(sites: readonly Site[]): Promise<void>;
  pid(): number | undefined;
  /** Every route in the edge's live config that proxies somewhere, Berth's and others'. */
  routes(): Promise<EdgeRoute[]>;
  /** Processes of this BERTH_HOME's edge besides the one Berth runs; `stop` ends them. */
  leftovers?(): ProxyProcess[];
  /** With `tls: auto`: why this host gets an internal certificate (see Proxy.tlsFallback). */
  tlsFallback?(host: string): string | undefined;
  /** A TLS handshake per host on the edge's HTTPS port. */
  tlsProbe?(hosts: readonly string[]): Promise<TlsHandshake[]>;
}

/**
 * Caddy or nginx at the edge, the builtin proxy behind it on a loopback port. Upstream
 * switches (every deploy) happen in the builtin proxy at request boundaries; the edge's
 * config changes only when hostnames or certificates do, so it is never reloaded by a deploy.
 */
export class EdgeProxy implements Proxy {
  readonly kind: string;
  readonly capabilities: ProxyCapabilities = { static: true, websocket: true, tls: true, hotSwap: true };
  readonly #inner: BuiltinProxy;
  readonly #edge: Edge;
  /** berthd's watcher, deploys and the operator's `berth proxy start/stop` act one at a time. */
  readonly #serial = new Serial();
  #table: RouteTable | undefined;
  #watched = 0;

  constructor(inner: BuiltinProxy, edge: Edge) {
    this.#inner = inner;
    this.#edge = edge;
    this.kind = edge.kind;
  }

  start(): Promise<void> {
    return this.#serial.run(async () => {
      await this.#inner.start();
      await this.#edge.start();
      if (this.#table) await this.#edge.applySites(sitesOf(this.#table));
    });
  }

  watch(): Promise<void> {
    return this.#serial.run(async () => {
      try {
        await this.#inner.watch();
        if (this.#inner.wanted()) await this.#edge.watch();
      } finally {
        this.#watched++;
      }
    });
  }

  apply(table: RouteTable): Promise<void> {
    return this.#serial.run(async () => {
      this.#table = table;
      await this.#inner.apply(table);
      if (this.#inner.wanted()) await this.#edge.applySites(sitesOf(table));
    });
  }

  current(): Promise<RouteTable | undefined> {
    return this.#inner.current();
  }

  edgeRoutes(): Promise<EdgeRoute[]> {
    return this.#edge.routes();
  }

  routeCounters(): Promise<RouteCounters[]> {
    return this.#inner.routeCounters();
  }

  inflight(upstreams: readonly string[]): Promise<number> {
    return this.#inner.inflight(upstreams);
  }

  tlsFallback(host: string): string | undefined {
    return this.#edge.tlsFallback?.(host);
  }

  async tlsHandshakes(hosts: readonly string[]): Promise<TlsHandshake[]> {
    return this.#inner.wanted() ? ((await this.#edge.tlsProbe?.(hosts)) ?? []) : [];
  }

  leftovers(): LeftoverProcess[] {
    return [
      ...this.#inner.leftovers(),
      ...(this.#edge.leftovers?.() ?? []).map((p) => ({ pid: p.pid, command: p.command, what: this.kind })),
    ];
  }

  async status(): Promise<ProxyStatus> {
    const inner = await this.#inner.status();
    const pid = this.#edge.pid();
    const leftovers = this.leftovers();
    return {
      ...inner,
      kind: this.kind,
      port: this.#edge.port,
      ports: {
        http: this.#edge.port,
        https: this.#edge.httpsPort,
        ...(inner.port !== undefined ? { internal: inner.port } : {}),
      },
      ...(inner.pid !== undefined ? { internalPid: inner.pid } : {}),
      running: inner.running && pid !== undefined,
      ...(pid ? { pid } : {}),
      ...(pid
        ? {}
        : { problem: this.#inner.wanted() ? `${this.kind} is not running` : 'stopped with `berth proxy stop`' }),
      ...(leftovers.length ? { leftovers } : {}),
      watched: this.#watched,
    };
  }

  /** Marks the proxy stopped (the watcher leaves it so), then ends the edge and every leftover of this home. */
  stop(): Promise<void> {
    return this.#serial.run(async () => {
      await this.#inner.stop();
      await this.#edge.stop();
    });
  }
}
