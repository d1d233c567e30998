import type { Logger } from 'pino';
import type { BuiltinProxy } from '../builtin/builtin-proxy.js';
import type { EdgeRoute, Proxy, ProxyCapabilities, ProxyStatus } from '../proxy.js';
import type { RouteTable } from '../route-table.js';
import { sitesOf, type Site } from './sites.js';

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
  #table: RouteTable | undefined;

  constructor(inner: BuiltinProxy, edge: Edge) {
    this.#inner = inner;
    this.#edge = edge;
    this.kind = edge.kind;
  }

  async start(): Promise<void> {
    await this.#inner.start();
    await this.#edge.start();
    if (this.#table) await this.#edge.applySites(sitesOf(this.#table));
  }

  async watch(): Promise<void> {
    await this.#inner.watch();
    if (this.#inner.wanted()) await this.#edge.watch();
  }

  async apply(table: RouteTable): Promise<void> {
    this.#table = table;
    await this.#inner.apply(table);
    if (this.#inner.wanted()) await this.#edge.applySites(sitesOf(table));
  }

  current(): Promise<RouteTable | undefined> {
    return this.#inner.current();
  }

  edgeRoutes(): Promise<EdgeRoute[]> {
    return this.#edge.routes();
  }

  inflight(upstreams: readonly string[]): Promise<number> {
    return this.#inner.inflight(upstreams);
  }

  async status(): Promise<ProxyStatus> {
    const inner = await this.#inner.status();
    const pid = this.#edge.pid();
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
      ...(pid ? {} : { problem: `${this.kind} is not running` }),
    };
  }

  async stop(): Promise<void> {
    await this.#edge.stop();
    await this.#inner.stop();
  }
}
