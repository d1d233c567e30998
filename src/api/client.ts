import { request, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { connect } from 'node:net';
import type { ErrorBody } from './errors.js';

/** An error the API returned, with its code and hint, or a transport failure (code 'unreachable'). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint: string | undefined;
  constructor(status: number, code: string, message: string, hint?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

/** A remote berthd: its API's base URL (http or https) and an API token. */
export interface RemoteTarget {
  readonly url: string;
  readonly token?: string | undefined;
}

/**
 * Talks to berthd over its unix socket, or to a remote berthd over HTTP(S) with a bearer
 * token. Built on node:http rather than undici: the CLI is a short-lived process, and
 * loading undici costs ~70 ms of its ~100 ms budget.
 */
export class ApiClient {
  readonly #target: string | RemoteTarget;

  constructor(target: string | RemoteTarget) {
    this.#target = target;
  }

  get remote(): RemoteTarget | undefined {
    return typeof this.#target === 'string' ? undefined : this.#target;
  }

  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const since = Date.now();
    let text: string;
    let res: IncomingMessage;
    try {
      res = await this.#send(method, path, body);
      text = await readAll(res);
    } catch (err) {
      throw await this.#explainLost(err, since);
    }
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if ((res.statusCode ?? 500) >= 400) throw toApiError(res.statusCode ?? 500, parsed);
    return parsed as T;
  }

  /** A streaming request: yields the body as it arrives. */
  async *stream(path: string, method: 'GET' | 'POST' = 'GET', body?: unknown): AsyncGenerator<string> {
    const since = Date.now();
    try {
      const res = await this.#send(method, path, body);
      if ((res.statusCode ?? 500) >= 400) throw toApiError(res.statusCode ?? 500, JSON.parse(await readAll(res)));
      res.setEncoding('utf8');
      for await (const chunk of res) yield chunk as string;
    } catch (err) {
      throw await this.#explainLost(err, since);
    }
  }

  /**
   * A connection that broke in the middle of a request says nothing about berthd by itself: a
   * proxy or a network in between may have cut it. So ask berthd (a new connection) and say
   * what really happened: it stopped, it restarted during the request, or it ran on, in which
   * case what the request started (a deployment) goes on without this client.
   */
  async #explainLost(err: unknown, since: number): Promise<unknown> {
    const lost =
      err instanceof ApiError
        ? err.code === 'connection_lost'
        : (err as NodeJS.ErrnoException | null)?.code === 'ECONNRESET' || (err as Error | null)?.message === 'aborted';
    if (!lost) return err;
    const how = err instanceof ApiError ? /\((E[A-Z]+)\)/.exec(err.message)?.[1] : 'ECONNRESET';
    const info = await this.#send('GET', '/v1/daemon')
      .then(async (res) => JSON.parse(await readAll(res)) as { pid?: number; uptimeMs?: number })
      .catch(() => undefined);
    const where = this.remote ? `berthd at ${this.remote.url}` : 'berthd';
    const check = 'see `berth releases <app>` and `berth ps` for the outcome';
    if (info?.pid === undefined || info.uptimeMs === undefined)
      return new ApiError(
        0,
        'connection_lost',
        `${where} closed the connection (${how}) and does not answer now: it stopped during the request`,
        'see `berth daemon status` and berthd.log under BERTH_HOME',
      );
    if (info.uptimeMs < Date.now() - since)
      return new ApiError(
        0,
        'connection_lost',
        `${where} restarted during the request (now pid ${info.pid}, up ${Math.round(info.uptimeMs / 1000)} s): a deployment it was running is finished or undone by the new berthd`,
        check,
      );
    return new ApiError(
      0,
      'connection_lost',
      `the connection to ${where} broke during the request (${how}), but berthd kept running (pid ${info.pid}): what the request started goes on without this client`,
      check,
    );
  }

  #send(method: string, path: string, body?: unknown): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> =
        payload === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
      const t = this.#target;
      const send = (req: ClientRequest) => {
        req.on('error', (err: NodeJS.ErrnoException) => reject(transportError(t, err)));
        req.end(payload);
      };
      // A connection of its own, without an Agent: an Agent checks the host name with net.isIP, whose
      // IPv6 pattern costs the CLI 20-100 ms to compile on first use, for a unix socket that has no host.
      if (typeof t === 'string')
        return send(request({ createConnection: () => connect(t), method, path, headers }, resolve));
      const base = new URL(t.url);
      const opts: RequestOptions = {
        host: base.hostname,
        port: base.port || undefined,
        method,
        path: base.pathname.replace(/\/$/, '') + path,
        agent: false,
        headers: { ...headers, ...(t.token ? { authorization: `Bearer ${t.token}` } : {}) },
      };
      if (base.protocol !== 'https:') return send(request(opts, resolve));
      // node:https (and TLS with it) is loaded for a remote berthd over HTTPS only: every other CLI run would pay for it.
      void import('node:https').then(({ request: httpsRequest }) => send(httpsRequest(opts, resolve)), reject);
    });
  }

  async close(): Promise<void> {}
}

/** What a failed connection or request means, as the CLI says it. */
function transportError(t: string | RemoteTarget, err: NodeJS.ErrnoException): Error {
  if (typeof t !== 'string' && (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'EHOSTUNREACH'))
    return new ApiError(
      0,
      'remote_unreachable',
      `berthd at ${t.url} is not reachable (${err.code})`,
      'check the URL (berth login <url>) and that berthd serves api_listen there',
    );
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')
    return new ApiError(0, 'unreachable', `berthd is not reachable (${err.code})`);
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE')
    return new ApiError(
      0,
      'connection_lost',
      `berthd closed the connection (${err.code}): it stopped or restarted during the request`,
      'see `berth daemon status` and berthd.log under BERTH_HOME',
    );
  return err;
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function toApiError(status: number, parsed: unknown): ApiError {
  const e = (parsed as ErrorBody | undefined)?.error;
  return new ApiError(status, e?.code ?? 'http_error', e?.message ?? `HTTP ${status}`, e?.hint);
}
