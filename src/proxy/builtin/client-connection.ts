import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { responseHeaders, type Exchange } from './exchange.js';
import type { ClientRequestHead } from './request-head.js';
import { headEnd, MAX_REQUEST_HEAD, parseRequestHead, type ParsedRequest } from './request-parser.js';
import type { ResponseHead } from './response-parser.js';

/** node:http's keepAliveTimeout as the proxy set it: an idle client connection is closed after it. */
const IDLE_MS = 65_000;
/** Pipelined requests read ahead while one is answered; beyond this the socket is paused. */
const READ_AHEAD = 64 * 1024;

/** What the connection asks of the data plane: serve this request, or false to hand the connection to node:http. */
export type Dispatch = (req: ParsedRequest, ex: RawExchange) => boolean;

let dateLine = '';
let dateSecond = -1;
/** A Date header, made at most once a second. */
function date(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLine;
}

/**
 * One client connection served by the proxy's own HTTP/1.1 server side: it reads request
 * heads with the strict parser, one exchange at a time (pipelined requests wait their turn),
 * and writes responses straight to the socket, corked per tick, so a small response is one
 * write. The first request it does not take hands the whole connection, its unread bytes
 * first, to node:http.
 */
export class ClientConnection {
  #buf: Buffer | undefined;
  #current: RawExchange | undefined;
  #parsing = false;
  #gone = false;

  constructor(
    readonly socket: Socket,
    private readonly dispatch: Dispatch,
    private readonly http: HttpServer,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(IDLE_MS);
    socket.on('data', this.#onData);
    socket.on('timeout', this.#onTimeout);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  get idle(): boolean {
    return this.#current === undefined && this.#buf === undefined;
  }

  #onData = (chunk: Buffer): void => {
    const ex = this.#current;
    if (ex && ex.bodyLeft > 0) {
      const used = ex.feed(chunk);
      if (used === chunk.length) return;
      chunk = chunk.subarray(used);
    }
    this.#buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
    if (this.#current) {
      if (this.#buf.length > READ_AHEAD) this.socket.pause();
      return;
    }
    this.#next();
  };

  #onTimeout = (): void => {
    if (!this.#current) this.socket.destroy();
  };

  #onError = (): void => {
    this.socket.destroy();
  };

  #onClose = (): void => {
    this.#gone = true;
    this.#current?.closed();
    this.#current = undefined;
  };

  /** An exchange is over (answered and its body read): the next pipelined request, if any. */
  over(ex: RawExchange): void {
    if (this.#current !== ex) return;
    this.#current = undefined;
    if (this.socket.isPaused()) this.socket.resume();
    if (!this.#parsing) this.#next();
  }

  #next(): void {
    this.#parsing = true;
    try {
      while (!this.#current && this.#buf && !this.#gone) {
        const buf = this.#buf;
        const end = headEnd(buf);
        if (end < 0) {
          if (buf.length > MAX_REQUEST_HEAD) this.#handOver();
          return;
        }
        const req = end - 4 <= MAX_REQUEST_HEAD ? parseRequestHead(buf.toString('latin1', 0, end - 4)) : undefined;
        if (!req) {
          this.#handOver();
          return;
        }
        const ex = new RawExchange(this, req);
        if (!this.dispatch(req, ex)) {
          this.#handOver();
          return;
        }
        this.#current = ex;
        let rest: Buffer | undefined = end === buf.length ? undefined : buf.subarray(end);
        if (rest && ex.bodyLeft > 0) {
          const used = ex.feed(rest);
          rest = used === rest.length ? undefined : rest.subarray(used);
        }
        this.#buf = rest;
        if (ex.finished && !ex.bodyLeft) this.#current = undefined;
      }
    } finally {
      this.#parsing = false;
    }
  }

  /** node:http takes the connection from here on, starting with the bytes not yet served. */
  #handOver(): void {
    const { socket } = this;
    socket.pause();
    socket.off('data', this.#onData);
    socket.off('timeout', this.#onTimeout);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    socket.setTimeout(0);
    if (this.#buf) socket.unshift(this.#buf);
    this.#buf = undefined;
    this.#gone = true;
    this.http.emit('connection', socket);
    socket.resume();
  }
}

/** One request on a ClientConnection and its response, written straight to the socket. */
export class RawExchange implements Exchange {
  readonly request: ClientRequestHead;
  readonly framing: Exchange['framing'];
  bodyLeft: number;
  headersSent = false;
  finished = false;
  #onData: ((chunk: Buffer) => void) | undefined;
  #onEnd: (() => void) | undefined;
  #discard = false;
  #closers: (() => void)[] = [];
  #chunked = false;
  #corked = false;

  constructor(
    private readonly conn: ClientConnection,
    private readonly req: ParsedRequest,
  ) {
    this.request = { method: req.method, rawHeaders: req.rawHeaders, remoteAddress: conn.socket.remoteAddress };
    this.bodyLeft = req.length;
    this.framing =
      req.length > 0 ? { body: 'length', line: `content-length: ${req.length}\r\n` } : { body: 'none', line: '' };
  }

  /** Takes body bytes from the front of `chunk`; returns how many. */
  feed(chunk: Buffer): number {
    const n = Math.min(this.bodyLeft, chunk.length);
    this.bodyLeft -= n;
    if (!this.#discard) this.#onData?.(n === chunk.length ? chunk : chunk.subarray(0, n));
    if (this.bodyLeft === 0) {
      if (!this.#discard) this.#onEnd?.();
      if (this.finished) this.conn.over(this);
    }
    return n;
  }

  readBody(data: (chunk: Buffer) => void, end: () => void): void {
    this.#onData = data;
    this.#onEnd = end;
  }

  pauseBody(): void {
    this.conn.socket.pause();
  }

  resumeBody(): void {
    this.conn.socket.resume();
  }

  discardBody(): void {
    this.#discard = true;
    if (this.conn.socket.isPaused()) this.conn.socket.resume();
  }

  onClose(cb: () => void): void {
    this.#closers.push(cb);
  }

  /** The client's connection closed: an exchange not finished is abandoned. */
  closed(): void {
    if (this.finished) return;
    this.finished = true;
    this.#close();
  }

  #close(): void {
    const closers = this.#closers;
    this.#closers = [];
    for (const cb of closers) cb();
  }

  /** Writes of one tick go out together (a small response: one write). */
  #cork(): Socket {
    const { socket } = this.conn;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    return socket;
  }

  sendHead(head: ResponseHead): void {
    const headers = responseHeaders(head);
    let text = `HTTP/1.1 ${head.status} ${head.reason || STATUS_CODES[head.status] || ''}\r\n`;
    let dated = false;
    for (let i = 0; i < headers.length; i += 2) {
      if (!dated && headers[i]!.length === 4 && headers[i]!.toLowerCase() === 'date') dated = true;
      text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    if (!dated) text += date();
    this.#chunked = head.framing === 'chunked' || head.framing === 'close';
    if (this.#chunked) text += 'transfer-encoding: chunked\r\n';
    if (this.req.close) text += 'connection: close\r\n';
    this.headersSent = true;
    this.#cork().write(text + '\r\n', 'latin1');
  }

  write(chunk: Buffer): boolean {
    const socket = this.#cork();
    if (chunk.length === 0) return !socket.writableNeedDrain;
    if (this.#chunked) socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    if (this.#chunked) socket.write('\r\n', 'latin1');
    return !socket.writableNeedDrain;
  }

  onceDrain(cb: () => void): void {
    this.conn.socket.once('drain', cb);
  }

  end(): void {
    if (this.finished) return;
    if (this.#chunked) this.#cork().write('0\r\n\r\n', 'latin1');
    this.finished = true;
    if (this.req.close) this.conn.socket.end();
    this.#close();
    if (this.bodyLeft === 0) this.conn.over(this);
  }

  destroy(): void {
    this.conn.socket.destroy();
  }

  page(status: number, contentType: string, body: string): void {
    if (this.headersSent) return this.destroy();
    const length = Buffer.byteLength(body);
    this.headersSent = true;
    this.#cork().write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${contentType}\r\ncache-control: no-store\r\n${date()}content-length: ${length}\r\n${this.req.close ? 'connection: close\r\n' : ''}\r\n${body}`,
    );
    this.end();
  }
}
