import { request } from 'node:http';

/** Caddy's admin API over its unix socket ("unix//path") or a loopback TCP address ("127.0.0.1:2019"). */
export class CaddyAdmin {
  readonly #target: { socketPath: string } | { host: string; port: number };

  constructor(address: string) {
    if (address.startsWith('unix/')) this.#target = { socketPath: address.slice('unix/'.length) };
    else {
      const [host, port] = address.split(':') as [string, string];
      this.#target = { host: host || '127.0.0.1', port: Number(port) };
    }
  }

  /** One admin call; resolves with the status and parsed body, rejects when Caddy is not reachable. */
  call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T | undefined; text: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      // Over a unix socket Caddy only accepts an empty Host header.
      const unix = 'socketPath' in this.#target;
      const headers: Record<string, string | number> = unix ? { host: '' } : {};
      if (payload)
        Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      const req = request({ ...this.#target, method, path, agent: false, setHost: !unix, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: T | undefined;
          try {
            parsed = text ? (JSON.parse(text) as T) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('caddy admin API timed out')));
      req.end(payload);
    });
  }
}
