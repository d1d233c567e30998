import { request, type IncomingMessage } from 'node:http';
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

/**
 * Talks to berthd over its unix socket. Built on node:http rather than undici: the CLI
 * is a short-lived process, and loading undici costs ~70 ms of its ~100 ms budget.
 */
export class ApiClient {
  readonly #socketPath: string;

  constructor(socketPath: string) {
    this.#socketPath = socketPath;
  }

  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.#send(method, path, body);
    const text = await readAll(res);
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if ((res.statusCode ?? 500) >= 400) throw toApiError(res.statusCode ?? 500, parsed);
    return parsed as T;
  }

  /** A streaming request: yields the body as it arrives. */
  async *stream(path: string, method: 'GET' | 'POST' = 'GET', body?: unknown): AsyncGenerator<string> {
    const res = await this.#send(method, path, body);
    if ((res.statusCode ?? 500) >= 400) throw toApiError(res.statusCode ?? 500, JSON.parse(await readAll(res)));
    res.setEncoding('utf8');
    for await (const chunk of res) yield chunk as string;
  }

  #send(method: string, path: string, body?: unknown): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.#socketPath, method, path, agent: false, headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new ApiError(0, 'unreachable', `berthd is not reachable (${err.code})`));
        else if (err.code === 'ECONNRESET' || err.code === 'EPIPE') reject(new ApiError(0, 'connection_lost', `berthd closed the connection (${err.code}): it stopped or restarted during the request`, 'see `berth daemon status` and berthd.log under BERTH_HOME'));
        else reject(err);
      });
      req.end(payload);
    });
  }

  async close(): Promise<void> {}
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
