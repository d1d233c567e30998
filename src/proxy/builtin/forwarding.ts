import { HTML, PAGE_502, PAGE_504, type Exchange } from './exchange.js';
import { requestHead } from './request-head.js';
import { ResponseError, ResponseParser, type ResponseHead, type ResponseSink } from './response-parser.js';
import type { ConnectionUser, UpstreamConnection, UpstreamPool } from './upstream-pool.js';

/**
 * Requests waiting for their upstream's answer to start, checked by one interval (a few
 * times per timeout, at most every second) rather than a timer per request. They are kept
 * in a list linked through the requests themselves, in the order they started, and stamped
 * with the number of sweeps so far: no Set that grows and shrinks (reallocating) and no
 * clock read per request. A request gives up after at least `timeoutMs`, at most two sweeps later.
 */
export class AnswerDeadlines {
  #first: Forwarding | undefined;
  #last: Forwarding | undefined;
  #sweeps = 0;
  /** Whole sweeps that cover the timeout, plus one for the partial interval before the first. */
  readonly #span: number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(readonly timeoutMs: number) {
    const every = Math.max(20, Math.min(1000, timeoutMs / 4));
    this.#span = Math.ceil(timeoutMs / every) + 1;
    this.#sweeper = setInterval(() => this.#sweep(), every).unref();
  }

  add(f: Forwarding): void {
    if (f.waiting) return;
    f.waiting = true;
    f.startedAt = this.#sweeps;
    f.prevWaiting = this.#last;
    f.nextWaiting = undefined;
    if (this.#last) this.#last.nextWaiting = f;
    else this.#first = f;
    this.#last = f;
  }

  delete(f: Forwarding): void {
    if (!f.waiting) return;
    f.waiting = false;
    const prev = f.prevWaiting;
    const next = f.nextWaiting;
    if (prev) prev.nextWaiting = next;
    else this.#first = next;
    if (next) next.prevWaiting = prev;
    else this.#last = prev;
    f.prevWaiting = f.nextWaiting = undefined;
  }

  close(): void {
    clearInterval(this.#sweeper);
  }

  #sweep(): void {
    this.#sweeps++;
    // Stamped s: it started after sweep s, so by sweep s + 1 + k at least k whole intervals have passed.
    const cutoff = this.#sweeps - this.#span;
    const expired: Forwarding[] = [];
    for (let f = this.#first; f && f.startedAt <= cutoff; f = f.nextWaiting) expired.push(f);
    for (const f of expired) f.expire();
  }
}

/**
 * One request forwarded to an upstream over a pooled keep-alive connection, and its
 * response streamed back. The body goes through as it comes, with backpressure both ways.
 * An idempotent request without a body that meets a pooled connection the upstream had
 * closed while idle is retried once on a new connection; one whose upstream refused it or
 * failed before a byte of the answer (a task that exited at once on SIGTERM, before the
 * routes left it) goes on to another upstream of its route (`another`), as nginx's
 * `proxy_next_upstream error` does. Anything else that fails before
 * the response starts gets the 502 page, and after it the client's connection is cut. An
 * upstream that has not started its answer within the timeout (connecting included) gets
 * the 504 page; once the answer started, it streams as long as it takes.
 */
export class Forwarding implements ConnectionUser, ResponseSink {
  #conn!: UpstreamConnection;
  #parser!: ResponseParser;
  readonly #head: string;
  readonly #body: 'none' | 'length' | 'chunked';
  /** Without a body and idempotent: safe to send again, here or to another upstream. */
  readonly #idempotent: boolean;
  #mayRetry: boolean;
  #requestSent = false;
  #over = false;
  #keepAlive = false;
  #paused = false;
  /** Kept by AnswerDeadlines while the answer has not started: its stamp and its neighbours in that list. */
  waiting = false;
  startedAt = 0;
  prevWaiting: Forwarding | undefined = undefined;
  nextWaiting: Forwarding | undefined = undefined;

  constructor(
    private readonly pool: UpstreamPool,
    private readonly ex: Exchange,
    private upstream: string,
    host: string,
    path: string,
    private readonly deadlines: AnswerDeadlines,
    private readonly another: () => string | undefined,
  ) {
    this.#body = ex.framing.body;
    this.#head = requestHead(ex.request, host, path, ex.framing.line);
    const { method } = ex.request;
    this.#idempotent = this.#body === 'none' && (method === 'GET' || method === 'HEAD' || method === 'OPTIONS');
    this.#mayRetry = this.#idempotent;
    ex.onClose(() => {
      if (!this.#over) this.#abandon();
    });
    deadlines.add(this);
    this.#send(false);
    if (this.#body !== 'none') this.#pipeBody();
  }

  #send(fresh: boolean): void {
    this.#parser = new ResponseParser(this, this.ex.request.method === 'HEAD');
    this.#conn = this.pool.take(this.upstream, this, fresh);
    this.#conn.write(this.#head);
    if (this.#body === 'none') this.#requestSent = true;
  }

  #pipeBody(): void {
    const { ex } = this;
    const chunked = this.#body === 'chunked';
    const data = (chunk: Buffer) => {
      if (this.#over) return;
      const socket = this.#conn.socket;
      if (chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write('\r\n');
        socket.uncork();
        if (socket.writableNeedDrain) ex.pauseBody();
      } else if (!socket.write(chunk)) ex.pauseBody();
    };
    ex.readBody(data, () => {
      if (this.#over) return;
      if (chunked) this.#conn.write('0\r\n\r\n');
      this.#requestSent = true;
    });
  }

  drain(): void {
    if (this.#body !== 'none') this.ex.resumeBody();
  }

  /** Bytes from the upstream (a view of its shared read buffer): what they complete goes to the client in one flush. */
  data(chunk: Buffer): void {
    if (this.#over) return;
    try {
      this.#parser.push(chunk);
    } catch (err) {
      // A malformed response; anything else is a bug here, which must cost this request, not the process serving every site.
      if (!(err instanceof ResponseError))
        console.error(`berth-proxy: forwarding to ${this.upstream}: ${(err as Error).stack ?? String(err)}`);
      this.#fail();
      return;
    }
    this.#flush();
  }

  /** Sends what a read completed; a slow client pauses the upstream until it drains. */
  #flush(): void {
    if (!this.#over && !this.ex.flush() && !this.#paused) {
      this.#paused = true;
      this.#conn.socket.pause();
      this.ex.onceDrain(() => {
        this.#paused = false;
        if (!this.#over) this.#conn.socket.resume();
      });
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
    if (this.#mayRetry && stale && !this.ex.headersSent) {
      this.#mayRetry = false;
      this.#send(true);
      return;
    }
    const next = this.#idempotent && this.#parser.received === 0 && !this.ex.headersSent ? this.another() : undefined;
    if (next !== undefined) {
      this.upstream = next;
      this.#mayRetry = true;
      this.#send(false);
      return;
    }
    this.#fail(false);
  }

  head(head: ResponseHead): void {
    this.deadlines.delete(this);
    this.#keepAlive = head.keepAlive;
    this.ex.sendHead(head);
  }

  body(chunk: Buffer): void {
    this.ex.write(chunk);
  }

  end(rest: number): void {
    this.deadlines.delete(this);
    this.#over = true;
    const conn = this.#conn;
    if (this.#keepAlive && this.#requestSent && rest === 0 && !conn.socket.destroyed) conn.release();
    else conn.destroy();
    this.ex.discardBody();
    this.ex.end();
  }

  /** No answer within the timeout: 504. */
  expire(): void {
    this.deadlines.delete(this);
    if (this.#over || this.ex.headersSent) return;
    this.#over = true;
    this.#conn.destroy();
    this.ex.discardBody();
    this.ex.page(504, HTML, PAGE_504);
  }

  /** The upstream failed: a 502 if nothing was sent yet, else the client's connection is cut. */
  #fail(destroy = true): void {
    this.deadlines.delete(this);
    this.#over = true;
    if (destroy) this.#conn.destroy();
    this.ex.discardBody();
    if (!this.ex.headersSent) this.ex.page(502, HTML, PAGE_502);
    else this.ex.destroy();
  }

  /** The client went away first. */
  #abandon(): void {
    this.deadlines.delete(this);
    this.#over = true;
    this.#conn.destroy();
  }
}
