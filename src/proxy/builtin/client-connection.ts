import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { isSharedView, plainSocket, sharedBufferReader } from './client-socket.js';
import { RawExchange, type ExchangeOwner } from './raw-exchange.js';
import { headText, MAX_REQUEST_HEAD, parseRequestHead, type ParsedRequest } from './request-parser.js';

/** node:http's keepAliveTimeout as the proxy set it: an idle client connection is closed after it. */
const IDLE_MS = 65_000;
/** How often idle connections are looked for: one interval for all, not a timer per socket re-armed on every read and write. */
const SWEEP_MS = 5_000;
/** Pipelined requests read ahead while one is answered; beyond this the socket is paused. */
const READ_AHEAD = 64 * 1024;

/** What the connection asks of the data plane: serve this request, or false to hand the connection to node:http. */
export type Dispatch = (req: ParsedRequest, ex: RawExchange) => boolean;

/**
 * One client connection served by the proxy's own HTTP/1.1 server side: it reads request
 * heads with the strict parser, one exchange at a time (pipelined requests wait their turn,
 * and while a client does not take its answers, the next waits for the drain), and writes
 * responses straight to the socket (raw-exchange.ts). Reads land in a buffer shared
 * by all client connections (client-socket.ts): what outlives a read is copied. The first
 * request it does not take hands the whole connection, its unread bytes first, to node:http.
 */
export class ClientConnection implements ExchangeOwner {
  #buf: Buffer | undefined;
  #current: RawExchange | undefined;
  #parsing = false;
  #gone = false;
  /** An answer waits for the client to read it: the next pipelined request waits for the drain. */
  #held = false;
  /** Idle-connection sweeps in a row that found it idle. */
  quiet = 0;
  handedOver = false;
  readonly remoteAddress: string | undefined;
  readonly socket: Socket;

  /** `accepted` comes from a server made with `pauseOnConnect` (nothing read yet). */
  constructor(
    accepted: Socket,
    private readonly dispatch: Dispatch,
    private readonly http: HttpServer,
  ) {
    const socket = sharedBufferReader(accepted, this.#onData);
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  get idle(): boolean {
    return this.#current === undefined && this.#buf === undefined;
  }

  /** Bytes read: a view of the shared read buffer, valid during the call only. */
  #onData = (chunk: Buffer): void => {
    this.quiet = 0;
    const ex = this.#current;
    if (ex && ex.bodyLeft > 0) {
      const used = ex.feed(chunk);
      if (used === chunk.length) return;
      chunk = chunk.subarray(used);
    }
    this.#buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
    if (!this.#current && !this.#held) this.#next();
    else if (this.#buf.length > READ_AHEAD) this.socket.pause();
    this.#keepCopy();
  };

  /** What waits in `#buf` (a partial head, pipelined requests) outlives the read: a copy, not a view of the shared buffer. */
  #keepCopy(): void {
    if (this.#buf && isSharedView(this.#buf)) this.#buf = Buffer.from(this.#buf);
  }

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
    if (this.#current !== ex || !this.#release()) return;
    this.#resume();
  }

  #resume(): void {
    if (this.socket.isPaused()) this.socket.resume();
    if (!this.#parsing) this.#next();
  }

  /** The exchange in hand is over; false: the client has not taken its answer yet, and the next request waits for the drain. */
  #release(): boolean {
    this.#current = undefined;
    if (!this.socket.writableNeedDrain) return true;
    this.#held = true;
    this.socket.once('drain', this.#drained);
    return false;
  }

  #drained = (): void => {
    this.#held = false;
    this.#resume();
  };

  #next(): void {
    this.#parsing = true;
    try {
      while (!this.#current && !this.#held && this.#buf && !this.#gone) {
        const buf = this.#buf;
        const text = headText(buf);
        if (text === undefined) {
          if (buf.length > MAX_REQUEST_HEAD) this.#handOver();
          return;
        }
        const end = text.length + 4;
        const req = text.length <= MAX_REQUEST_HEAD ? parseRequestHead(text) : undefined;
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
        if (ex.finished && !ex.bodyLeft) this.#release();
      }
    } finally {
      this.#parsing = false;
    }
  }

  /**
   * node:http takes the connection from here on, starting with the bytes not yet served, on a
   * socket of its own (node:http reads `data` events, not the shared buffer) once the answers
   * written so far (pipelined ones to a slow client) have left.
   */
  #handOver(): void {
    const { socket } = this;
    socket.pause();
    this.handedOver = true;
    this.#gone = true;
    const rest = this.#buf && Buffer.from(this.#buf);
    this.#buf = undefined;
    const move = () => {
      if (socket.destroyed) return;
      socket.off('error', this.#onError);
      socket.off('close', this.#onClose);
      const plain = plainSocket(socket);
      if (rest) plain.unshift(rest);
      this.http.emit('connection', plain);
      plain.resume();
    };
    if (socket.writableLength === 0) move();
    else socket.write('', move);
  }
}

/**
 * The client connections the proxy reads itself, and the one interval that closes those idle
 * for IDLE_MS (those handed to node:http are its to time out).
 */
export class ClientConnections {
  readonly #all = new Set<ClientConnection>();
  readonly #sweeper = setInterval(() => this.#sweep(), SWEEP_MS).unref();

  constructor(
    private readonly dispatch: Dispatch,
    private readonly http: HttpServer,
  ) {}

  add(socket: Socket): void {
    const conn = new ClientConnection(socket, this.dispatch, this.http);
    this.#all.add(conn);
    conn.socket.once('close', () => this.#all.delete(conn));
  }

  /** Closes the idle connections now (the others close when their exchange ends), and stops sweeping. */
  close(): void {
    clearInterval(this.#sweeper);
    for (const conn of this.#all) if (conn.idle) conn.socket.destroy();
  }

  #sweep(): void {
    for (const conn of this.#all) {
      if (conn.handedOver) continue;
      if (!conn.idle) conn.quiet = 0;
      else if (++conn.quiet * SWEEP_MS >= IDLE_MS) conn.socket.destroy();
    }
  }
}
