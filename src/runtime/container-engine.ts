import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { Agent, request, type IncomingMessage } from 'node:http';
import { BerthError } from '../core/errors.js';

/**
 * A client of the Docker Engine API (Podman's Docker-compatible service speaks it too) over its
 * unix socket: plain HTTP and JSON, a dozen endpoints. Not dockerode: it pulls ssh2 (with a native
 * addon built at install), grpc-js and protobufjs for transports Berth never uses, and would
 * double the dependency tree. node:http speaks to a unix socket as is (undici would too, but it needs
 * WebAssembly, which berthd's --lite-mode turns off).
 * Every value goes in a JSON body or an encoded query parameter: there is no command line anywhere.
 */

/** The Docker socket's usual place: the default engine when it exists. */
export const DEFAULT_ENGINE_SOCKET = '/var/run/docker.sock';

/**
 * The engine's socket from the host setting `container_engine` (or env BERTH_CONTAINER_ENGINE), a
 * `unix://` URL or a path; undefined when neither is set and the default socket does not exist.
 */
export function engineSocket(setting: string | undefined): string | undefined {
  if (setting !== undefined && setting !== '') return setting.replace(/^unix:\/\//, '');
  return existsSync(DEFAULT_ENGINE_SOCKET) ? DEFAULT_ENGINE_SOCKET : undefined;
}

/** What the engine answered with an error status. */
export class EngineError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class ContainerEngine {
  readonly #agent = new Agent({ keepAlive: true });
  readonly socket: string | undefined;

  constructor(socket: string | undefined) {
    this.socket = socket;
  }

  /**
   * GET, POST or DELETE; a JSON answer parsed, `undefined` for an empty one; an error status throws EngineError.
   * `headers` are sent as they are (X-Registry-Auth of a service: never put in an error or a log).
   */
  async call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<T> {
    const res = await this.#send(method, path, body, undefined, headers);
    const text = await readAll(res);
    if ((res.statusCode ?? 0) >= 400) throw new EngineError(res.statusCode ?? 0, engineMessage(text, res.statusCode));
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** Whether the engine answers (GET /_ping). */
  async ping(): Promise<boolean> {
    try {
      const res = await this.#send('GET', '/_ping', undefined);
      await readAll(res);
      return res.statusCode === 200;
    } catch {
      return false;
    }
  }

  /**
   * A request whose answer is a stream (logs, a build's or a pull's progress): the body, once the status is
   * known to be good. `headers` are sent as they are (X-Registry-Auth: never put in an error or a log).
   */
  async stream(
    method: 'GET' | 'POST',
    path: string,
    body?: Readable,
    contentType?: string,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<Readable> {
    const res = await this.#send(method, path, body, contentType, headers);
    if ((res.statusCode ?? 0) >= 400)
      throw new EngineError(res.statusCode ?? 0, engineMessage(await readAll(res), res.statusCode));
    return res;
  }

  close(): void {
    this.#agent.destroy();
  }

  /**
   * One request. No timeout: a `wait` lasts a container's life, a stop its stop timeout; an engine
   * that is down fails at once (no socket, connection refused).
   */
  #send(
    method: string,
    path: string,
    body: unknown,
    contentType?: string,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<IncomingMessage> {
    const socket = this.socket;
    if (socket === undefined)
      return Promise.reject(
        new BerthError('unavailable', 'no_container_engine', 'this host has no container engine configured', {
          hint: `install Docker (apt-get install docker.io) or run Podman's service, then set container_engine in config.yaml (or BERTH_CONTAINER_ENGINE) to its unix:// socket; default ${DEFAULT_ENGINE_SOCKET}`,
        }),
      );
    const raw = body !== undefined && (contentType !== undefined || isStream(body));
    const json = body !== undefined && !raw ? JSON.stringify(body) : undefined;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: socket,
          path,
          method,
          agent: this.#agent,
          headers: {
            ...extra,
            ...(raw
              ? { 'content-type': contentType ?? 'application/octet-stream' }
              : json !== undefined
                ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) }
                : {}),
          },
        },
        resolve,
      );
      req.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new BerthError(
            'unavailable',
            'container_engine_down',
            `the container engine at ${socket} (host setting container_engine) does not answer (${err.code ?? err.message})`,
            {
              cause: err,
              hint: "start it (systemctl start docker), or point container_engine in config.yaml (or BERTH_CONTAINER_ENGINE) at a running engine's unix:// socket",
            },
          ),
        ),
      );
      if (raw) (body as Readable).pipe(req);
      else req.end(json);
    });
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
  });
}

function isStream(v: unknown): boolean {
  return v !== null && typeof v === 'object' && typeof (v as Readable).pipe === 'function';
}

function engineMessage(text: string, status: number | undefined): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 500) || `status ${status}`;
}
