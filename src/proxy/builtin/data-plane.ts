import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { EMPTY_TABLE, RouteMatcher, upstreamPath, type RouteEntry, type RouteTable } from '../route-table.js';
import { ClientConnections } from './client-connection.js';
import { HTML, NodeExchange, PAGE_502, type Exchange } from './exchange.js';
import { AnswerDeadlines, Forwarding } from './forwarding.js';
import { requestHead } from './request-head.js';
import type { RawExchange } from './raw-exchange.js';
import type { ParsedRequest } from './request-parser.js';
import { RouteStats } from './route-stats.js';
import { serveStatic } from './static-files.js';
import { UpstreamPool } from './upstream-pool.js';

const PAGE_404 = '404 Not Found\n';
const NO_OTHER = (): undefined => undefined;

/**
 * The builtin proxy's data plane: host + path routing to healthy upstreams over pooled
 * keep-alive connections, static files, WebSocket upgrades. The table is one immutable
 * object: `swap` replaces the reference, and a request keeps the table it started with.
 * Client connections are read by the proxy's own HTTP/1.1 server side (client-connection.ts);
 * the first request it does not take (static files, upgrades, anything unusual) hands the
 * connection to a node:http server that never listens itself.
 */
export class DataPlane {
  #matcher = new RouteMatcher(EMPTY_TABLE);
  readonly #pool = new UpstreamPool();
  readonly #next = new Map<string, number>();
  /**
   * Requests (and WebSocket connections) in flight per upstream, for draining. An upstream at 0
   * keeps its entry until the next table (a Map that shrinks to empty reallocates its table on
   * every request); `inflight` lists the others.
   */
  readonly #inflight = new Map<string, number>();
  /** The listening server: plain TCP, each connection a ClientConnection. */
  readonly server: Server;
  /** node:http for the connections handed over. */
  readonly http: HttpServer;
  readonly #connections: ClientConnections;
  /** Connections handed to node:http so far (the proxy's health report shows it). */
  handedOver = 0;
  /** Requests and latency per route (GET /v1/stats on the control socket). */
  readonly stats = new RouteStats();

  readonly #deadlines: AnswerDeadlines;

  constructor(opts: { upstreamTimeoutMs?: number } = {}) {
    this.#deadlines = new AnswerDeadlines(opts.upstreamTimeoutMs ?? 60_000);
    this.http = createHttpServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000, requestTimeout: 0 }, (req, res) =>
      this.#handleNode(req, res),
    );
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#upgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => socket.destroy());
    this.http.on('connection', () => this.handedOver++);
    // node:http tracks its connections (and enforces headersTimeout on them) from 'listening' on; this one never listens.
    this.http.emit('listening');
    const dispatch = (req: ParsedRequest, ex: RawExchange) => this.#handleRaw(req, ex);
    this.#connections = new ClientConnections(dispatch, this.http);
    // Paused: a ClientConnection moves each connection into a socket that reads into a shared buffer.
    this.server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.#connections.add(socket));
  }

  /** Stops listening; idle connections close now, the others when their exchange ends. */
  close(): void {
    this.server.close();
    this.#connections.close();
    this.http.close();
    this.http.closeIdleConnections();
  }

  get table(): RouteTable {
    return this.#matcher.table;
  }

  swap(table: RouteTable): void {
    this.#matcher = new RouteMatcher(table);
    for (const [upstream, n] of this.#inflight) if (n === 0) this.#inflight.delete(upstream);
  }

  /** Upstreams with requests (or WebSocket connections) in flight, and how many. */
  get inflight(): Map<string, number> {
    return new Map([...this.#inflight].filter(([, n]) => n > 0));
  }

  /** Matches on the normalised path (dot segments resolved, also when encoded); `url` is that path and the query, as forwarded. */
  #route(hostHeader: string | undefined, target: string) {
    const host = hostOf(hostHeader);
    const q = target.indexOf('?');
    const pathname = normalizePath(q < 0 ? target : target.slice(0, q));
    const url = pathname + (q < 0 ? '' : target.slice(q));
    return { route: this.#matcher.match(host, pathname), host, pathname, url };
  }

  /** Round robin over the route's upstreams; with `skip`, the next one not in it (none when all are). */
  #pick(route: RouteEntry, skip?: readonly string[]): string | undefined {
    if (!skip && route.upstreams.length <= 1) return route.upstreams[0];
    const key = `${route.host}${route.path}`;
    const n = this.#next.get(key) ?? 0;
    for (let i = 0; i < route.upstreams.length; i++) {
      const up = route.upstreams[(n + i) % route.upstreams.length] as string;
      if (skip?.includes(up)) continue;
      this.#next.set(key, n + i + 1);
      return up;
    }
    return undefined;
  }

  /** A request read by the proxy's own server side; false hands the connection to node:http. */
  #handleRaw(req: ParsedRequest, ex: RawExchange): boolean {
    const { route, host, url } = this.#route(req.host, req.target);
    if (!route) ex.page(404, 'text/plain', PAGE_404);
    else if (route.static) return false;
    else this.#proxy(ex, route, host, url);
    return true;
  }

  #handleNode(req: IncomingMessage, res: ServerResponse): void {
    const { route, host, pathname, url } = this.#route(req.headers.host, req.url ?? '/');
    req.url = url;
    const ex = new NodeExchange(req, res);
    if (!route) ex.page(404, 'text/plain', PAGE_404);
    else if (route.static) serveStatic(route.static.root, route.static.spa, upstreamPath(route, pathname), req, res);
    else this.#proxy(ex, route, host, url);
  }

  #proxy(ex: Exchange, route: RouteEntry, host: string, url: string): void {
    let upstream = this.#pick(route);
    if (!upstream) return ex.page(502, HTML, PAGE_502);
    this.#count(upstream, 1);
    const start = performance.now();
    ex.onClose(() => {
      this.#count(upstream as string, -1);
      this.stats.record(route, ex.status, (performance.now() - start) / 1000);
    });
    let tried: string[] | undefined;
    // The route's other upstreams, each once, for a request that failed before its answer started (none to try on a
    // route of one upstream: no function and no list made per request for it).
    const another =
      route.upstreams.length < 2
        ? NO_OTHER
        : () => {
            tried ??= [upstream as string];
            const next = this.#pick(route, tried);
            if (next === undefined) return undefined;
            tried.push(next);
            this.#count(upstream as string, -1);
            this.#count((upstream = next), 1);
            return next;
          };
    new Forwarding(this.#pool, ex, upstream, host, upstreamPath(route, url), this.#deadlines, another);
  }

  #count(upstream: string, delta: number): void {
    this.#inflight.set(upstream, (this.#inflight.get(upstream) ?? 0) + delta);
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const { route, host, url } = this.#route(req.headers.host, req.url ?? '/');
    req.url = url;
    const upstream = route && !route.static ? this.#pick(route) : undefined;
    if (!route || !upstream) {
      socket.end(
        `HTTP/1.1 ${route ? '502 Bad Gateway' : '404 Not Found'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
      return;
    }
    const [hostname, port] = upstream.split(':') as [string, string];
    this.#count(upstream, 1);
    socket.once('close', () => this.#count(upstream, -1));
    const up = connect({ host: hostname, port: Number(port) }, () => {
      const length =
        req.headers['content-length'] === undefined ? '' : `content-length: ${req.headers['content-length']}\r\n`;
      up.write(
        requestHead(
          { method: req.method ?? 'GET', rawHeaders: req.rawHeaders, remoteAddress: req.socket.remoteAddress },
          host,
          upstreamPath(route, req.url ?? '/'),
          `${length}connection: Upgrade\r\nupgrade: ${req.headers.upgrade ?? 'websocket'}\r\n`,
        ),
      );
      if (head.length > 0) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () =>
      socket.writable && !up.bytesRead
        ? socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
        : socket.destroy(),
    );
    socket.on('error', () => up.destroy());
    socket.on('close', () => up.destroy());
    up.on('close', () => socket.destroy());
  }
}

/** Resolves "." and ".." segments (also "%2e" forms), as nginx does before matching locations. */
export function normalizePath(pathname: string): string {
  const raw = pathname.startsWith('/') ? pathname : '/' + pathname;
  if (!hasDotOrPercent(raw) || !/\/\.|%2e/i.test(raw)) return raw;
  const out: string[] = [];
  const segments = raw.split('/');
  segments.forEach((seg, i) => {
    const s = seg.replace(/%2e/gi, '.');
    if (s === '..') {
      if (out.length > 1) out.pop();
      if (i === segments.length - 1) out.push('');
    } else if (s === '.') {
      if (i === segments.length - 1) out.push('');
    } else out.push(seg);
  });
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : '/' + joined;
}

/** A path without "." or "%" (most) has no dot segment, plain or encoded: no regular expression to run on it. */
function hasDotOrPercent(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 46 || c === 37) return true;
  }
  return false;
}

/** Host characters that need no trimming or lowercasing: a-z, 0-9, ".", "-", ":" (the usual Host value). */
function isPlainHost(h: string): boolean {
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 58) || c === 46 || c === 45)) return false;
  }
  return true;
}

/** Hostname of a Host header, lowercased, without the port. */
export function hostOf(header: string | undefined): string {
  const h = header !== undefined && isPlainHost(header) ? header : (header ?? '').trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}
