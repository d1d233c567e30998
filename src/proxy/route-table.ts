import { isGatewayNetwork, type GatewayNetwork } from './builtin/gateway-listener.js';

/**
 * What a proxy serves: routes from (host, path prefix) to upstreams or a static directory.
 * Built by berthd from the store, pushed whole to the proxy, swapped atomically there.
 */
export interface RouteEntry {
  readonly host: string;
  /** Path prefix, starting with "/". */
  readonly path: string;
  /** HTTPS at an edge: 'auto', 'internal' or 'off' (the builtin proxy ignores it). */
  readonly tls?: 'auto' | 'internal' | 'off' | undefined;
  /** Remove the prefix before proxying. */
  readonly strip: boolean;
  readonly app: string;
  readonly env: string;
  readonly service: string;
  /** Healthy instances, "127.0.0.1:<port>". Empty when none is healthy. */
  readonly upstreams: readonly string[];
  /** For static services: the directory the proxy serves, and SPA fallback. */
  readonly static?: { readonly root: string; readonly spa: boolean } | undefined;
}

/**
 * A service address: a TCP listener on 127.0.0.1:<port> that spreads connections over the healthy
 * instances of one service of one release (what its dependents get as <NAME>_URL).
 */
export interface ListenerEntry {
  readonly port: number;
  readonly app: string;
  readonly env: string;
  /** The release's number. */
  readonly release: number;
  readonly service: string;
  /** Healthy instances, "127.0.0.1:<port>". Empty when none is healthy: connections are closed at once. */
  readonly upstreams: readonly string[];
  /** The environment's container network, when it has one: the address is also on its gateway, for its containers only. */
  readonly network?: GatewayNetwork | undefined;
}

export interface RouteTable {
  /** Increases with every change berthd makes. */
  readonly version: number;
  readonly routes: readonly RouteEntry[];
  /** Service addresses; absent in tables written before they existed. */
  readonly listeners?: readonly ListenerEntry[] | undefined;
}

export const EMPTY_TABLE: RouteTable = Object.freeze({ version: 0, routes: Object.freeze([]) });

/** True when `prefix` covers `pathname`: "/api/" covers "/api/x"; "/api" covers "/api" and "/api/x", not "/apix". */
export function prefixCovers(prefix: string, pathname: string): boolean {
  if (prefix === '/') return true;
  if (prefix.endsWith('/')) return pathname.startsWith(prefix);
  return pathname === prefix || pathname.startsWith(prefix + '/');
}

/** A compiled table: routes grouped by host, longest prefix first. */
export class RouteMatcher {
  readonly table: RouteTable;
  readonly #byHost = new Map<string, RouteEntry[]>();

  constructor(table: RouteTable) {
    this.table = table;
    for (const r of table.routes) {
      const list = this.#byHost.get(r.host) ?? [];
      list.push(r);
      this.#byHost.set(r.host, list);
    }
    for (const list of this.#byHost.values()) list.sort((a, b) => b.path.length - a.path.length);
  }

  /** The longest route prefix of the host that covers the path (a loop: no callback made per request). */
  match(host: string, pathname: string): RouteEntry | undefined {
    const list = this.#byHost.get(host);
    if (list === undefined) return undefined;
    for (const r of list) if (prefixCovers(r.path, pathname)) return r;
    return undefined;
  }
}

/** The path the upstream sees: without the prefix when `strip` is set, always starting with "/". */
export function upstreamPath(route: RouteEntry, pathAndQuery: string): string {
  if (!route.strip || route.path === '/') return pathAndQuery;
  const prefix = route.path.endsWith('/') ? route.path.slice(0, -1) : route.path;
  const rest = pathAndQuery.slice(prefix.length);
  return rest.startsWith('/') ? rest : '/' + rest;
}

/** Checks a table received over the control socket or read from disk. */
export function parseTable(value: unknown): RouteTable {
  const t = value as { version?: unknown; routes?: unknown } | null;
  if (!t || typeof t.version !== 'number' || !Array.isArray(t.routes))
    throw new Error('a route table needs a numeric version and a routes list');
  for (const r of t.routes as Array<Partial<Record<keyof RouteEntry, unknown>>>) {
    if (
      typeof r.host !== 'string' ||
      typeof r.path !== 'string' ||
      !r.path.startsWith('/') ||
      !Array.isArray(r.upstreams)
    )
      throw new Error(`bad route entry: ${JSON.stringify(r).slice(0, 200)}`);
    if (!r.upstreams.every(isUpstream)) throw new Error(`bad upstream in route ${r.host}${r.path}`);
  }
  const listeners = (value as { listeners?: unknown }).listeners;
  if (listeners !== undefined && !Array.isArray(listeners)) throw new Error('listeners must be a list');
  for (const l of (listeners ?? []) as Array<Partial<Record<keyof ListenerEntry, unknown>>>) {
    if (
      !Number.isInteger(l.port) ||
      (l.port as number) < 1 ||
      (l.port as number) > 65535 ||
      !Array.isArray(l.upstreams) ||
      !l.upstreams.every(isUpstream) ||
      (l.network !== undefined && !isGatewayNetwork(l.network))
    )
      throw new Error(`bad listener entry: ${JSON.stringify(l).slice(0, 200)}`);
  }
  return value as RouteTable;
}

/** An IPv4 address and port: 127.0.0.1 for this host's instances, a swarm node's address for its tasks. */
function isUpstream(u: unknown): boolean {
  return typeof u === 'string' && /^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/.test(u);
}
