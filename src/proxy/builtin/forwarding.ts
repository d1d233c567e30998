import type { IncomingMessage, ServerResponse } from 'node:http';
import { ResponseError, ResponseParser, type ResponseHead, type ResponseSink } from './response-parser.js';
import type { ConnectionUser, UpstreamConnection, UpstreamPool } from './upstream-pool.js';

/** Hop-by-hop headers (RFC 9110 7.6.1): never forwarded in either direction. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
]);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

const PAGE_502 =
  '<!doctype html><title>502 Bad Gateway</title><h1>502 Bad Gateway</h1><p>The application behind this address is not answering right now. Try again in a moment.</p>\n';
const PAGE_504 =
  '<!doctype html><title>504 Gateway Timeout</title><h1>504 Gateway Timeout</h1><p>The application behind this address took too long to answer. Try again in a moment.</p>\n';

export function badGateway(res: ServerResponse): void {
  res.writeHead(502, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(PAGE_502);
}

function gatewayTimeout(res: ServerResponse): void {
  res.writeHead(504, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(PAGE_504);
}

/**
 * Berth's own dashboard session cookie. Browsers send a host's cookies to every port of it,
 * so a browser signed in to the dashboard sends it to apps on the same host name too; the
 * proxy never passes it on.
 */
const SESSION_COOKIE = 'berth_session=';

function withoutSessionCookie(value: string): string {
  return value
    .split(';')
    .filter((pair) => !pair.trim().startsWith(SESSION_COOKIE))
    .map((pair) => pair.trim())
    .join('; ');
}

/** Header names a Connection header lists: hop-by-hop for this message only. */
function connectionNamed(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  return new Set(
    String(value)
      .toLowerCase()
      .split(',')
      .map((s) => s.trim()),
  );
}

/** How the client's request body is delimited, and the header line that says so to the upstream (the body is re-framed, so the client's own lines are not copied). */
export function requestFraming(req: IncomingMessage): { body: 'none' | 'length' | 'chunked'; line: string } {
  // Node has already refused requests with both, with a Transfer-Encoding not ending in chunked, or with conflicting lengths.
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return { body: 'chunked', line: `transfer-encoding: ${te}\r\n` };
  const length = req.headers['content-length'];
  if (length !== undefined) return { body: 'length', line: `content-length: ${length}\r\n` };
  return { body: 'none', line: '' };
}

/**
 * The request head for the upstream: the client's header lines in their order and case,
 * without hop-by-hop ones (also those its Connection header names), one Host (the one the
 * route was chosen by), the body framing the caller gives in `extra`, and
 * X-Forwarded-For/-Proto/-Host. Behind an edge on this host the request comes from loopback
 * and the edge's own X-Forwarded-Proto/-Host are kept (it knows about TLS); anyone else's
 * are replaced.
 */
export function requestHead(req: IncomingMessage, host: string, path: string, extra: string): string {
  const raw = req.rawHeaders;
  const named = connectionNamed(req.headers.connection);
  let head = `${req.method} ${path} HTTP/1.1\r\n`;
  if (req.headers.host !== undefined) head += `Host: ${req.headers.host}\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || FORWARDED.has(name) || name === 'host' || name === 'content-length' || named?.has(name))
      continue;
    let value = raw[i + 1]!;
    if (name === 'cookie' && value.includes(SESSION_COOKIE)) {
      value = withoutSessionCookie(value);
      if (!value) continue;
    }
    head += `${raw[i]}: ${value}\r\n`;
  }
  const client = req.socket.remoteAddress ?? '';
  const fromEdge = client === '127.0.0.1' || client === '::1' || client === '::ffff:127.0.0.1';
  const prior = req.headers['x-forwarded-for'];
  const proto = fromEdge && req.headers['x-forwarded-proto'] ? req.headers['x-forwarded-proto'] : 'http';
  const fhost =
    fromEdge && req.headers['x-forwarded-host'] ? req.headers['x-forwarded-host'] : (req.headers.host ?? host);
  return `${head}x-forwarded-for: ${prior ? `${joined(prior)}, ${client}` : client}\r\nx-forwarded-proto: ${joined(proto)}\r\nx-forwarded-host: ${joined(fhost)}\r\n${extra}\r\n`;
}

/** node:http joins repeated headers of these names into one string; the type still allows a list. */
function joined(value: string | string[]): string {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The response's header list for the client: without hop-by-hop ones (also those its
 * Connection header names), and with one Content-Length, the one the body was framed by
 * (or, after HEAD and on 304, the one the upstream stated).
 */
function responseHeaders(head: ResponseHead): string[] {
  const out: string[] = [];
  const connection: string[] = [];
  for (let i = 0; i < head.headers.length; i += 2)
    if (head.headers[i]!.toLowerCase() === 'connection') connection.push(head.headers[i + 1]!);
  const listed = connection.length > 0 ? connectionNamed(connection.join(',')) : undefined;
  for (let i = 0; i < head.headers.length; i += 2) {
    const name = head.headers[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || name === 'content-length' || listed?.has(name)) continue;
    out.push(head.headers[i]!, head.headers[i + 1]!);
  }
  if (head.length !== undefined && (head.framing === 'length' || (head.framing === 'none' && head.status !== 204)))
    out.push('content-length', String(head.length));
  return out;
}

/**
 * Requests waiting for their upstream's answer to start, checked by one interval (a few
 * times per timeout, at most every second) rather than a timer per request.
 */
export class AnswerDeadlines {
  readonly #waiting = new Set<Forwarding>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(readonly timeoutMs: number) {
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(20, Math.min(1000, timeoutMs / 4))).unref();
  }

  add(f: Forwarding): void {
    this.#waiting.add(f);
  }

  delete(f: Forwarding): void {
    this.#waiting.delete(f);
  }

  close(): void {
    clearInterval(this.#sweeper);
  }

  #sweep(): void {
    const cutoff = Date.now() - this.timeoutMs;
    const expired: Forwarding[] = [];
    for (const f of this.#waiting) {
      if (f.startedAt > cutoff) break; // added in the order they started
      expired.push(f);
    }
    for (const f of expired) f.expire();
  }
}

/**
 * One request forwarded to an upstream over a pooled keep-alive connection, and its
 * response streamed back. The body goes through as it comes, with backpressure both ways.
 * An idempotent request without a body that meets a pooled connection the upstream had
 * closed while idle is retried once on a new connection; anything else that fails before
 * the response starts gets the 502 page, and after it the client's connection is cut. An
 * upstream that has not started its answer within the timeout (connecting included) gets
 * the 504 page; once the answer started, it streams as long as it takes.
 */
export class Forwarding implements ConnectionUser, ResponseSink {
  #conn!: UpstreamConnection;
  #parser!: ResponseParser;
  readonly #head: string;
  readonly #body: 'none' | 'length' | 'chunked';
  #mayRetry = true;
  #requestSent = false;
  #over = false;
  #keepAlive = false;
  #paused = false;
  /** When the request went out: the deadlines give up on it `timeoutMs` later unless its answer has started. */
  readonly startedAt = Date.now();

  constructor(
    private readonly pool: UpstreamPool,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly upstream: string,
    host: string,
    path: string,
    private readonly deadlines: AnswerDeadlines,
  ) {
    const framing = requestFraming(req);
    this.#body = framing.body;
    this.#head = requestHead(req, host, path, framing.line);
    if (this.#body !== 'none' || !IDEMPOTENT.has(req.method ?? '')) this.#mayRetry = false;
    res.on('close', () => {
      if (!this.#over) this.#abandon();
    });
    deadlines.add(this);
    this.#send(false);
    if (this.#body !== 'none') this.#pipeBody();
  }

  #send(fresh: boolean): void {
    this.#parser = new ResponseParser(this, this.req.method === 'HEAD');
    this.#conn = this.pool.take(this.upstream, this, fresh);
    this.#conn.write(this.#head);
    if (this.#body === 'none') this.#requestSent = true;
  }

  #pipeBody(): void {
    const { req } = this;
    const chunked = this.#body === 'chunked';
    req.on('data', (chunk: Buffer) => {
      if (this.#over) return;
      const socket = this.#conn.socket;
      if (chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write('\r\n');
        socket.uncork();
        if (socket.writableNeedDrain) req.pause();
      } else if (!socket.write(chunk)) req.pause();
    });
    req.on('end', () => {
      if (this.#over) return;
      if (chunked) this.#conn.write('0\r\n\r\n');
      this.#requestSent = true;
    });
  }

  drain(): void {
    if (this.#body !== 'none') this.req.resume();
  }

  data(chunk: Buffer): void {
    if (this.#over) return;
    try {
      this.#parser.push(chunk);
    } catch (err) {
      // A malformed response; anything else is a bug here, which must cost this request, not the process serving every site.
      if (!(err instanceof ResponseError))
        console.error(`berth-proxy: forwarding to ${this.upstream}: ${(err as Error).stack ?? String(err)}`);
      this.#fail();
    }
  }

  closed(err: NodeJS.ErrnoException | undefined): void {
    if (this.#over) return;
    if (this.#parser.closeDelimited && err === undefined) {
      // The body ran until the close: a clean close is its end (a reset is not, and cuts the client off below).
      this.#parser.close();
      return;
    }
    // A pooled connection the upstream closed while it was idle: nothing of this request reached it.
    const stale =
      this.#conn.reused &&
      this.#parser.received === 0 &&
      (err === undefined || err.code === 'ECONNRESET' || err.code === 'EPIPE');
    if (this.#mayRetry && stale && !this.res.headersSent) {
      this.#mayRetry = false;
      this.#send(true);
      return;
    }
    this.#fail(false);
  }

  head(head: ResponseHead): void {
    this.deadlines.delete(this);
    this.#keepAlive = head.keepAlive;
    try {
      this.res.writeHead(head.status, head.reason || undefined, responseHeaders(head));
    } catch {
      throw new ResponseError('a response header Node refuses to send');
    }
  }

  body(chunk: Buffer): void {
    if (!this.res.write(chunk) && !this.#paused) {
      this.#paused = true;
      this.#conn.socket.pause();
      this.res.once('drain', () => {
        this.#paused = false;
        if (!this.#over) this.#conn.socket.resume();
      });
    }
  }

  end(rest: number): void {
    this.deadlines.delete(this);
    this.#over = true;
    const conn = this.#conn;
    if (this.#keepAlive && this.#requestSent && rest === 0 && !conn.socket.destroyed) conn.release();
    else conn.destroy();
    this.#discardBody();
    this.res.end();
  }

  /** The answer is decided while the client is still sending its body: read the rest, to nowhere, so its connection stays usable. */
  #discardBody(): void {
    if (this.#body !== 'none' && !this.req.complete) this.req.resume();
  }

  /** No answer within the timeout: 504. */
  expire(): void {
    this.deadlines.delete(this);
    if (this.#over || this.res.headersSent) return;
    this.#over = true;
    this.#conn.destroy();
    this.#discardBody();
    gatewayTimeout(this.res);
  }

  /** The upstream failed: a 502 if nothing was sent yet, else the client's connection is cut. */
  #fail(destroy = true): void {
    this.deadlines.delete(this);
    this.#over = true;
    if (destroy) this.#conn.destroy();
    this.#discardBody();
    if (!this.res.headersSent) badGateway(this.res);
    else this.res.destroy();
  }

  /** The client went away first. */
  #abandon(): void {
    this.deadlines.delete(this);
    this.#over = true;
    this.#conn.destroy();
  }
}
