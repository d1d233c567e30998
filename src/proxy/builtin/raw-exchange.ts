import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { responseHeaders, type Exchange } from './exchange.js';
import type { ClientRequestHead } from './request-head.js';
import type { ParsedRequest } from './request-parser.js';
import type { ResponseHead } from './response-parser.js';

/** What a RawExchange needs of its connection. */
export interface ExchangeOwner {
  readonly socket: Socket;
  /** The client's address, read once per connection. */
  readonly remoteAddress: string | undefined;
  /** The exchange is answered and its body read: the next pipelined request may start. */
  over(ex: RawExchange): void;
}

/** A request without a body, as forwarding sees it (one object for all of them). */
const NO_BODY: Exchange['framing'] = Object.freeze({ body: 'none', line: '' });
/** Up to this many bytes, what a flush sends goes out as one latin1 string rather than a buffer put together. */
const SMALL_WRITE = 4096;

let dateLine: string | undefined;
/** A Date header, made at most once a second and kept until the second ends (as node:http does): no clock read per response. */
function date(): string {
  if (dateLine === undefined) {
    const now = new Date();
    dateLine = `date: ${now.toUTCString()}\r\n`;
    setTimeout(() => (dateLine = undefined), 1000 - now.getMilliseconds()).unref();
  }
  return dateLine;
}

/**
 * One request read by the proxy's own server side (client-connection.ts) and its response.
 * What forwarding writes (the head as latin1 text, body bytes, chunk framing) collects here
 * and goes out as one buffer in one write when forwarding flushes, once per read from the
 * upstream: a small response is one write syscall, with no cork, no tick and no writev. The
 * collected body bytes are copied into that buffer, so forwarding's chunks (views of the
 * upstream's shared read buffer) are never kept.
 */
export class RawExchange implements Exchange {
  readonly request: ClientRequestHead;
  readonly framing: Exchange['framing'];
  bodyLeft: number;
  headersSent = false;
  status = 0;
  finished = false;
  #onData: ((chunk: Buffer) => void) | undefined;
  #onEnd: (() => void) | undefined;
  #discard = false;
  #closers: (() => void)[] = [];
  #chunked = false;
  /** Written and not yet sent: latin1 text and views of body bytes, `#outBytes` in all. */
  #out: (string | Buffer)[] = [];
  #outBytes = 0;

  constructor(
    private readonly conn: ExchangeOwner,
    private readonly req: ParsedRequest,
  ) {
    this.request = { method: req.method, rawHeaders: req.rawHeaders, remoteAddress: conn.remoteAddress };
    this.bodyLeft = req.length;
    this.framing = req.length > 0 ? { body: 'length', line: `content-length: ${req.length}\r\n` } : NO_BODY;
  }

  /**
   * Takes body bytes from the front of `chunk` (a view of the connection's shared read buffer)
   * and hands them on as a copy, which forwarding may queue; returns how many.
   */
  feed(chunk: Buffer): number {
    const n = Math.min(this.bodyLeft, chunk.length);
    this.bodyLeft -= n;
    if (!this.#discard && this.#onData) this.#onData(Buffer.from(chunk.subarray(0, n)));
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
    this.#out = [];
    if (this.finished) return;
    this.finished = true;
    this.#close();
  }

  #close(): void {
    const closers = this.#closers;
    this.#closers = [];
    for (const cb of closers) cb();
  }

  #add(piece: string | Buffer): void {
    this.#out.push(piece);
    this.#outBytes += piece.length; // text here is latin1: one byte a character
  }

  sendHead(head: ResponseHead): void {
    this.status = head.status;
    const headers = responseHeaders(head);
    let text = `HTTP/1.1 ${head.status} ${head.reason || STATUS_CODES[head.status] || ''}\r\n`;
    let dated = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (!dated && name.length === 4 && (name === 'Date' || name.toLowerCase() === 'date')) dated = true;
      text += `${name}: ${headers[i + 1]}\r\n`;
    }
    if (!dated) text += date();
    this.#chunked = head.framing === 'chunked' || head.framing === 'close';
    if (this.#chunked) text += 'transfer-encoding: chunked\r\n';
    if (this.req.close) text += 'connection: close\r\n';
    this.headersSent = true;
    this.#add(text + '\r\n');
  }

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#chunked) this.#add(`${chunk.length.toString(16)}\r\n`);
    this.#add(chunk);
    if (this.#chunked) this.#add('\r\n');
  }

  flush(): boolean {
    const { socket } = this.conn;
    const out = this.#out;
    if (out.length > 0 && !socket.destroyed) {
      if (out.length === 1 && typeof out[0] === 'string') socket.write(out[0], 'latin1');
      else if (this.#outBytes <= SMALL_WRITE) {
        // A small response as one latin1 string (its bytes unchanged): no buffer to allocate, fill and validate.
        let text = '';
        for (const piece of out) text += typeof piece === 'string' ? piece : piece.toString('latin1');
        socket.write(text, 'latin1');
      } else {
        const buf = Buffer.allocUnsafe(this.#outBytes);
        let at = 0;
        for (const piece of out) at += typeof piece === 'string' ? buf.write(piece, at, 'latin1') : piece.copy(buf, at);
        socket.write(buf);
      }
    }
    out.length = 0; // the same list for the next flush
    this.#outBytes = 0;
    return !socket.writableNeedDrain;
  }

  onceDrain(cb: () => void): void {
    this.conn.socket.once('drain', cb);
  }

  end(): void {
    if (this.finished) return;
    if (this.#chunked) this.#add('0\r\n\r\n');
    this.finished = true;
    this.flush();
    if (this.req.close) this.conn.socket.end();
    this.#close();
    if (this.bodyLeft === 0) this.conn.over(this);
  }

  destroy(): void {
    this.#out = [];
    this.conn.socket.destroy();
  }

  page(status: number, contentType: string, body: string): void {
    if (this.headersSent) return this.destroy();
    this.headersSent = true;
    this.status = status;
    this.#add(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${contentType}\r\ncache-control: no-store\r\n${date()}content-length: ${Buffer.byteLength(body, 'latin1')}\r\n${this.req.close ? 'connection: close\r\n' : ''}\r\n${body}`,
    );
    this.end();
  }
}
