import { Client } from 'undici';
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

/** Talks to berthd over its unix socket. */
export class ApiClient {
  readonly #client: Client;

  constructor(socketPath: string) {
    this.#client = new Client('http://berthd', { socketPath, bodyTimeout: 0, headersTimeout: 600_000 });
  }

  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.#send(method, path, body);
    const text = await res.body.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (res.statusCode >= 400) {
      const e = (parsed as ErrorBody | undefined)?.error;
      throw new ApiError(res.statusCode, e?.code ?? 'http_error', e?.message ?? `HTTP ${res.statusCode}`, e?.hint);
    }
    return parsed as T;
  }

  /** A streaming GET: yields the body as it arrives. */
  async *stream(path: string): AsyncGenerator<string> {
    const res = await this.#send('GET', path);
    if (res.statusCode >= 400) {
      const e = (JSON.parse(await res.body.text()) as ErrorBody).error;
      throw new ApiError(res.statusCode, e.code, e.message, e.hint);
    }
    res.body.setEncoding('utf8');
    for await (const chunk of res.body) yield chunk as string;
  }

  async #send(method: string, path: string, body?: unknown) {
    try {
      return await this.#client.request({
        method: method as 'GET',
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'UND_ERR_SOCKET') throw new ApiError(0, 'unreachable', `berthd is not reachable (${code})`);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
