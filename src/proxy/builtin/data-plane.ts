import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { EMPTY_TABLE, RouteMatcher, upstreamPath, type RouteEntry, type RouteTable } from '../route-table.js';
import { AnswerDeadlines, badGateway, Forwarding, requestHead } from './forwarding.js';
import { serveStatic } from './static-files.js';
import { UpstreamPool } from './upstream-pool.js';

const PAGE_404 = '404 Not Found\n';

/**
 * The builtin proxy's data plane: host + path routing to healthy upstreams over pooled
 * keep-alive connections, static files, WebSocket upgrades. The table is one immutable
 * object: `swap` replaces the reference, and a request keeps the table it started with.
 */
export class DataPlane {
  #matcher = new RouteMatcher(EMPTY_TABLE);
  readonly #pool = new UpstreamPool();
  readonly #next = new Map<string, number>();
  /** Requests (and WebSocket connections) in flight per upstream, for draining. */
  readonly inflight = new Map<string, number>();
  readonly server: Server;

  readonly #deadlines: AnswerDeadlines;

  constructor(opts: { upstreamTimeoutMs?: number } = {}) {
    this.#deadlines = new AnswerDeadlines(opts.upstreamTimeoutMs ?? 60_000);
    this.server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000, requestTimeout: 0 }, (req, res) =>
      this.#handle(req, res),
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#upgrade(req, socket, head));
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  get table(): RouteTable {
    return this.#matcher.table;
  }

  swap(table: RouteTable): void {
    this.#matcher = new RouteMatcher(table);
  }

  /** Matches on the normalised path (dot segments resolved, also when encoded), and forwards that path. */
  #route(req: IncomingMessage): { route: RouteEntry | undefined; host: string; pathname: string } {
    const host = hostOf(req.headers.host);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = normalizePath(q < 0 ? url : url.slice(0, q));
    req.url = pathname + (q < 0 ? '' : url.slice(q));
    return { route: this.#matcher.match(host, pathname), host, pathname };
  }

  #pick(route: RouteEntry): string | undefined {
    if (route.upstreams.length === 0) return undefined;
    const key = `${route.host}${route.path}`;
    const n = this.#next.get(key) ?? 0;
    this.#next.set(key, n + 1);
    return route.upstreams[n % route.upstreams.length];
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const { route, host, pathname } = this.#route(req);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(PAGE_404);
      return;
    }
    if (route.static) {
      serveStatic(route.static.root, route.static.spa, upstreamPath(route, pathname), req, res);
      return;
    }
    const upstream = this.#pick(route);
    if (!upstream) {
      badGateway(res);
      return;
    }
    this.#forward(req, res, route, upstream, host);
  }

  #count(upstream: string, delta: number): void {
    const n = (this.inflight.get(upstream) ?? 0) + delta;
    if (n > 0) this.inflight.set(upstream, n);
    else this.inflight.delete(upstream);
  }

  #forward(req: IncomingMessage, res: ServerResponse, route: RouteEntry, upstream: string, host: string): void {
    this.#count(upstream, 1);
    res.once('close', () => this.#count(upstream, -1));
    new Forwarding(this.#pool, req, res, upstream, host, upstreamPath(route, req.url ?? '/'), this.#deadlines);
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const { route, host } = this.#route(req);
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
          req,
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
  if (!/\/\.|%2e/i.test(raw)) return raw;
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

/** Hostname of a Host header, lowercased, without the port. */
export function hostOf(header: string | undefined): string {
  const h = (header ?? '').trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}
