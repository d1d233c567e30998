import type { IncomingMessage, ServerResponse } from 'node:http';
import { connectionNamed, type ClientRequestHead } from './request-head.js';
import { ResponseError, type ResponseHead } from './response-parser.js';

/**
 * One client request and its response, as forwarding sees it, whichever server side read it:
 * the proxy's own (client-connection.ts, most requests) or node:http (the connections the
 * proxy's parser hands over: anything unusual). Forwarding streams the body both ways
 * through it with backpressure.
 */
export interface Exchange {
  readonly request: ClientRequestHead;
  /** How the request body is delimited, and the header line that says so to the upstream (the body is re-framed). */
  readonly framing: { body: 'none' | 'length' | 'chunked'; line: string };
  /** Body bytes as they come, then the end; called once, only when there is a body. */
  readBody(data: (chunk: Buffer) => void, end: () => void): void;
  pauseBody(): void;
  resumeBody(): void;
  /** The answer is decided while the client still sends its body: read the rest to nowhere, so its connection stays usable. */
  discardBody(): void;
  /** Called once when the exchange is over, answered or not. */
  onClose(cb: () => void): void;
  readonly headersSent: boolean;
  /** The response's status once its head is sent (0 before: a client gone before any answer). */
  readonly status: number;
  /** Throws ResponseError for a head that cannot be sent. */
  sendHead(head: ResponseHead): void;
  /** Body bytes: `chunk` is valid until the next `flush` or `end` (the exchange copies what it keeps by then). */
  write(chunk: Buffer): void;
  /** Sends what was written (and the head); false: the client is slow, wait for `onceDrain`. */
  flush(): boolean;
  onceDrain(cb: () => void): void;
  /** Flushes and finishes the response. */
  end(): void;
  /** Cuts the client's connection (a response that cannot be finished). */
  destroy(): void;
  /** A whole page of our own (404, 502, 504). */
  page(status: number, contentType: string, body: string): void;
}

export const PAGE_502 =
  '<!doctype html><title>502 Bad Gateway</title><h1>502 Bad Gateway</h1><p>The application behind this address is not answering right now. Try again in a moment.</p>\n';
export const PAGE_504 =
  '<!doctype html><title>504 Gateway Timeout</title><h1>504 Gateway Timeout</h1><p>The application behind this address took too long to answer. Try again in a moment.</p>\n';
export const HTML = 'text/html; charset=utf-8';

/**
 * The response's header list for the client: without hop-by-hop ones (also those its
 * Connection header names), and with one Content-Length, the one the body was framed by
 * (or, after HEAD and on 304, the one the upstream stated). The parser has already set the
 * hop-by-hop ones and Content-Length aside (`kept`), lowercasing only names of their lengths.
 */
export function responseHeaders(head: ResponseHead): string[] {
  const listed = connectionNamed(head.connection);
  const kept = head.kept;
  const out: string[] = [];
  for (let i = 0; i < kept.length; i += 2)
    if (listed === undefined || !listed.has(kept[i]!.toLowerCase())) out.push(kept[i]!, kept[i + 1]!);
  if (head.length !== undefined && (head.framing === 'length' || (head.framing === 'none' && head.status !== 204)))
    out.push('content-length', String(head.length));
  return out;
}

/** How a node:http request's body is delimited (node has already refused conflicting or unknown framings). */
function nodeFraming(req: IncomingMessage): Exchange['framing'] {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return { body: 'chunked', line: `transfer-encoding: ${te}\r\n` };
  const length = req.headers['content-length'];
  if (length !== undefined) return { body: 'length', line: `content-length: ${length}\r\n` };
  return { body: 'none', line: '' };
}

/** An exchange over node:http's request and response objects. */
export class NodeExchange implements Exchange {
  readonly request: ClientRequestHead;
  readonly framing: Exchange['framing'];
  #ok = true;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.request = { method: req.method ?? 'GET', rawHeaders: req.rawHeaders, remoteAddress: req.socket.remoteAddress };
    this.framing = nodeFraming(req);
  }

  readBody(data: (chunk: Buffer) => void, end: () => void): void {
    this.req.on('data', data);
    this.req.on('end', end);
  }

  pauseBody(): void {
    this.req.pause();
  }

  resumeBody(): void {
    this.req.resume();
  }

  discardBody(): void {
    if (this.framing.body !== 'none' && !this.req.complete) this.req.resume();
  }

  onClose(cb: () => void): void {
    this.res.once('close', cb);
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  get status(): number {
    return this.res.headersSent ? this.res.statusCode : 0;
  }

  sendHead(head: ResponseHead): void {
    try {
      this.res.writeHead(head.status, head.reason || undefined, responseHeaders(head));
    } catch {
      throw new ResponseError('a response header Node refuses to send');
    }
  }

  write(chunk: Buffer): void {
    if (!this.res.write(Buffer.from(chunk))) this.#ok = false; // a copy: node:http may hold it past the flush
  }

  flush(): boolean {
    const ok = this.#ok;
    this.#ok = true;
    return ok;
  }

  onceDrain(cb: () => void): void {
    this.res.once('drain', cb);
  }

  end(): void {
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }

  page(status: number, contentType: string, body: string): void {
    this.res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
  }
}
