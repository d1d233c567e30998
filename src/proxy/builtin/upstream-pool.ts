import { connect, type Socket } from 'node:net';

/** What a connection hands its events to while it carries a request. */
export interface ConnectionUser {
  /** Bytes from the upstream. They sit in a buffer the next read reuses: valid during the call only, copy what you keep. */
  data(chunk: Buffer): void;
  /** The connection closed (cleanly or not) while in use. */
  closed(err: NodeJS.ErrnoException | undefined): void;
  drain(): void;
}

const IDLE_LIMIT_MS = 30_000;

/**
 * Every upstream connection reads into this one buffer (net's `onread`), so a response costs
 * no buffer of its own on the way in and skips the Readable stream's machinery. The proxy is
 * one thread and each read's callback consumes its bytes before the next read, so sharing is
 * safe as long as no one keeps a view of it: the response parser and the client side copy
 * what they keep.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * One keep-alive connection to an upstream. Its listeners are set once; while it carries a
 * request they go to that request's user, while idle in the pool any byte or close ends it.
 */
export class UpstreamConnection {
  readonly socket: Socket;
  user: ConnectionUser | undefined;
  /** Has carried a request before: the upstream may have closed it meanwhile. */
  reused = false;
  idleSince = 0;
  #error: NodeJS.ErrnoException | undefined;

  constructor(
    readonly upstream: string,
    private readonly pool: UpstreamPool,
  ) {
    const colon = upstream.lastIndexOf(':');
    this.socket = connect({
      host: upstream.slice(0, colon),
      port: Number(upstream.slice(colon + 1)),
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: this.#read },
    });
    this.socket.on('drain', () => this.user?.drain());
    this.socket.on('error', (err: NodeJS.ErrnoException) => (this.#error = err));
    this.socket.on('close', () => {
      this.pool.forget(this);
      const user = this.user;
      this.user = undefined;
      user?.closed(this.#error);
    });
  }

  #read = (n: number, buf: Uint8Array): boolean => {
    if (this.user) this.user.data(Buffer.from(buf.buffer, buf.byteOffset, n));
    else this.socket.destroy(); // bytes while idle: the upstream is out of step
    return true;
  };

  /** A request head (latin1: its bytes as the client sent them) or body bytes. */
  write(data: string | Buffer): boolean {
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** Returns the connection to the pool (or closes it when the pool for its upstream is full). */
  release(): void {
    this.user = undefined;
    this.reused = true;
    this.socket.resume(); // it may have been paused for a slow client; idle, it must see a close
    this.pool.keep(this);
  }

  destroy(): void {
    this.user = undefined;
    this.socket.destroy();
  }
}

/** Idle keep-alive connections per upstream, most recently used first out. */
export class UpstreamPool {
  readonly #idle = new Map<string, UpstreamConnection[]>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(private readonly maxIdlePerUpstream = 64) {
    this.#sweeper = setInterval(() => this.#sweep(), IDLE_LIMIT_MS / 3).unref();
  }

  /**
   * An idle connection to `upstream`, or a new one. There is no cap on connections in use
   * (as in nginx without `max_conns`): a request never waits in the proxy for a connection,
   * and the app's own server decides how many it accepts.
   */
  take(upstream: string, user: ConnectionUser, fresh = false): UpstreamConnection {
    const list = fresh ? undefined : this.#idle.get(upstream);
    let conn: UpstreamConnection | undefined;
    while (list && list.length > 0 && !conn) {
      const c = list.pop()!;
      if (!c.socket.destroyed && c.socket.readyState === 'open') conn = c;
    }
    conn ??= new UpstreamConnection(upstream, this);
    conn.user = user;
    return conn;
  }

  keep(conn: UpstreamConnection): void {
    if (conn.socket.destroyed) return;
    let list = this.#idle.get(conn.upstream);
    if (!list) this.#idle.set(conn.upstream, (list = []));
    if (list.length >= this.maxIdlePerUpstream) {
      conn.destroy();
      return;
    }
    conn.idleSince = Date.now();
    list.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    const list = this.#idle.get(conn.upstream);
    const i = list ? list.indexOf(conn) : -1;
    if (i >= 0) list!.splice(i, 1);
    if (list && list.length === 0) this.#idle.delete(conn.upstream);
  }

  /** Idle connections, per upstream (for tests and diagnostics). */
  idleCount(upstream: string): number {
    return this.#idle.get(upstream)?.length ?? 0;
  }

  close(): void {
    clearInterval(this.#sweeper);
    for (const list of [...this.#idle.values()]) for (const c of [...list]) c.destroy();
  }

  #sweep(): void {
    const cutoff = Date.now() - IDLE_LIMIT_MS;
    for (const list of [...this.#idle.values()]) for (const c of list.filter((x) => x.idleSince < cutoff)) c.destroy();
  }
}
