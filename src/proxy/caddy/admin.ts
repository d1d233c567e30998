import { request } from 'node:http';
import { BerthError } from '../../core/errors.js';

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

  /** A config change that must succeed: retried while Caddy fails to load it for a passing reason, else a BerthError. */
  async ok(method: string, p: string, body?: unknown): Promise<void> {
    let r = await this.call(method, p, body);
    // A config change that fails to load leaves Caddy on its previous config, so it is safe to
    // try again; it happens when Caddy reads a certificate it is still writing from an earlier change.
    for (let i = 0; i < 10 && r.status >= 400 && /loading new config/.test(r.text); i++) {
      await new Promise((res) => setTimeout(res, 100 * (i + 1)));
      r = await this.call(method, p, body);
    }
    if (r.status >= 400)
      throw new BerthError('failed', 'caddy_failed', `Caddy refused ${method} ${p}: ${r.text.trim()}`, {
        hint: 'see berth proxy status and the caddy log under BERTH_HOME/caddy',
      });
  }
}
