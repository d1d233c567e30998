import type { RouteTable } from './route-table.js';
import type { RouteCounters } from './builtin/route-stats.js';
import type { LeftoverProcess, ProxyStatus } from '../core/results.js';

/** What an adapter can do; callers ask these, never the adapter's kind. */
export interface ProxyCapabilities {
  /** Serves `static:` services itself. */
  readonly static: boolean;
  readonly websocket: boolean;
  /** Terminates TLS (certificates, ACME). */
  readonly tls: boolean;
  /** Swaps upstreams without a reload that drops in-flight keep-alive requests. */
  readonly hotSwap: boolean;
}

/** A route as an edge server (Caddy, nginx) has it, read back from its live config. */
export interface EdgeRoute {
  /** Berth made it (an `@id`/file of Berth's), or someone else did. */
  readonly berth: boolean;
  readonly hosts: readonly string[];
  /** Upstream addresses it proxies to, "host:port". */
  readonly dials: readonly string[];
  /** Where to look: a file, or Caddy's config path. */
  readonly where: string;
}

/** A TLS handshake with the edge for one host, as doctor reports it. */
export interface TlsHandshake {
  readonly host: string;
  /** The edge's HTTPS port the handshake went to (on 127.0.0.1). */
  readonly port: number;
  /** What is wrong (the handshake fails, no certificate, one for another name); absent when HTTPS works. */
  readonly problem?: string;
}

/**
 * The edge that realises routes. One interface, three adapters (builtin now; Caddy and
 * nginx later). `apply` takes the whole table; the adapter makes it live atomically.
 */
export interface Proxy {
  readonly kind: string;
  readonly capabilities: ProxyCapabilities;
  /** Makes sure the proxy runs (adopting one that already does), and keeps it running. */
  start(): Promise<void>;
  apply(table: RouteTable): Promise<void>;
  /** The table the proxy serves right now, as it reports it. */
  current(): Promise<RouteTable | undefined>;
  status(): Promise<ProxyStatus>;
  /** Requests in flight to these upstreams ("127.0.0.1:<port>"), for draining before a stop. */
  inflight(upstreams: readonly string[]): Promise<number>;
  /** Requests by status class and latency per route, counted by the builtin proxy (behind an edge too). */
  routeCounters?(): Promise<RouteCounters[]>;
  /** Stops the proxy until `start`: traffic stops. */
  stop(): Promise<void>;
  /** Restarts what died (unless stopped on purpose); called every second by berthd. */
  watch(): Promise<void>;
  /** With an edge server in front: its routes, read back from its live config (for doctor). */
  edgeRoutes?(): Promise<EdgeRoute[]>;
  /** With `tls: auto`: why this host gets an internal certificate instead of a public CA's (a name no public CA certifies). */
  tlsFallback?(host: string): string | undefined;
  /** With an edge that terminates TLS: a handshake for each host, for doctor. */
  tlsHandshakes?(hosts: readonly string[]): Promise<TlsHandshake[]>;
  /** Processes of this BERTH_HOME's proxy besides the ones Berth runs; `stop` ends them. */
  leftovers?(): LeftoverProcess[];
}
