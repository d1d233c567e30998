import { BerthError } from '../core/errors.js';
import type { Proxy } from '../proxy/proxy.js';

/** One row of `berth routes`: a live route as the proxy serves it. */
export interface RouteView {
  readonly host: string;
  readonly path: string;
  readonly app: string;
  readonly env: string;
  readonly service: string;
  /** "127.0.0.1:20001, 127.0.0.1:20002", "static:<dir>", or "" when no instance is healthy. */
  readonly upstream: string;
  readonly healthy: boolean;
  readonly strip: boolean;
  /**
   * HTTPS for this host: 'auto' (a public certificate), 'internal' (Caddy's local CA), 'off'; 'none'
   * when the proxy cannot terminate TLS (the builtin proxy alone serves plain HTTP whatever berth.yaml says).
   */
  readonly tls: 'auto' | 'internal' | 'off' | 'none';
}

/** The routes the proxy is serving right now (asked from the proxy, not the store). */
export async function liveRoutes(proxy: Proxy): Promise<RouteView[]> {
  const table = await proxy.current();
  if (!table)
    throw new BerthError('unavailable', 'proxy_down', `the ${proxy.kind} proxy is not answering`, {
      hint: 'berth proxy start',
    });
  return table.routes.map((r) => ({
    host: r.host,
    path: r.path,
    app: r.app,
    env: r.env,
    service: r.service,
    upstream: r.static ? `static:${r.static.root}` : r.upstreams.join(', '),
    healthy: r.static !== undefined || r.upstreams.length > 0,
    strip: r.strip,
    tls: proxy.capabilities.tls ? (r.tls ?? 'auto') : 'none',
  }));
}
