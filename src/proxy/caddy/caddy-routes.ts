import type { StaticSiteRoute } from '../edge/sites.js';
import { compareText } from '../../core/names.js';

/** A route of Caddy's JSON config, as far as Berth reads it back. */
export interface CaddyRoute {
  readonly '@id'?: string;
  readonly match?: Array<{ host?: string[] }>;
  readonly handle?: CaddyHandler[];
}

interface CaddyHandler {
  readonly handler?: string;
  readonly upstreams?: Array<{ dial?: string }>;
  readonly routes?: CaddyRoute[];
}

/** HTTPS hosts live in server "berth" (listening on the HTTPS port); plain ones in "berth_http", where Caddy also puts its HTTP->HTTPS redirects. */
export const SERVER = 'berth';
export const HTTP_SERVER = 'berth_http';
export const routesOf = (server: string) => `/config/apps/http/servers/${server}/routes`;
export const routeId = (host: string) => `berth-host-${host.replace(/\./g, '_')}`;
/** A host with `tls: off` has its route in the plain server under another `@id`: a host changing modes never has two routes of one `@id` (Caddy's `/id/` would reach either). */
export const plainId = (host: string) => `berth-plain-${host.replace(/\./g, '_')}`;
export const redirectId = (host: string) => `berth-redirect-${host.replace(/\./g, '_')}`;
export const isBerthRoute = (r: CaddyRoute) => /^berth-(host|plain|redirect)-/.test(r['@id'] ?? '');

/** Upstreams of a route's reverse_proxy handlers, also inside subroutes. */
export function dialsOf(route: CaddyRoute): string[] {
  return (route.handle ?? [])
    .flatMap((h) =>
      h.handler === 'reverse_proxy'
        ? (h.upstreams ?? []).map((u) => u.dial ?? '')
        : h.handler === 'subroute'
          ? (h.routes ?? []).flatMap(dialsOf)
          : [],
    )
    .filter(Boolean);
}

/** JSON with object keys sorted: Caddy hands its config back with sorted keys. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => compareText(a, b)))
      : v,
  );
}

/** A path prefix as a case-sensitive Caddy matcher (Caddy's `path` matcher ignores case; the builtin proxy does not). */
function prefixMatcher(prefix: string): Array<Record<string, unknown>> {
  if (prefix === '/') return [];
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [{ path_regexp: { pattern: prefix.endsWith('/') ? `^${escaped}` : `^${escaped}(/|$)` } }];
}

/** Builders of Berth's routes in Caddy's JSON: pure, no IO. */
export class CaddyRoutes {
  readonly #upstreamPort: number;
  readonly #httpsPort: number;

  constructor(o: { upstreamPort: number; httpsPort: number }) {
    this.#upstreamPort = o.upstreamPort;
    this.#httpsPort = o.httpsPort;
  }

  #proxy(): unknown {
    return { handler: 'reverse_proxy', upstreams: [{ dial: `127.0.0.1:${this.#upstreamPort}` }] };
  }

  /**
   * Everything for a host goes to the builtin proxy, except its static routes, which Caddy's
   * file_server serves from a stable link to the current release. Prefixes are tried longest
   * first, as the builtin proxy does, so "/api/" of another service still wins over a static "/".
   */
  host(
    id: string,
    host: string,
    statics: readonly StaticSiteRoute[],
    paths: readonly string[],
    links: ReadonlyMap<string, string>,
  ): unknown {
    const own = statics.filter((r) => r.host === host && links.has(r.key));
    if (own.length === 0) return { '@id': id, match: [{ host: [host] }], handle: [this.#proxy()], terminal: true };
    const routes = paths.map((p) => {
      const st = own.find((r) => r.path === p);
      return {
        ...(p === '/' ? {} : { match: prefixMatcher(p) }),
        handle: [st ? this.#fileServer(st, links.get(st.key) as string) : this.#proxy()],
        terminal: true,
      };
    });
    if (!own.some((r) => r.path === '/')) routes.push({ handle: [this.#proxy()], terminal: true });
    return {
      '@id': id,
      match: [{ host: [host] }],
      handle: [{ handler: 'subroute', routes }],
      terminal: true,
    };
  }

  /** file_server for one static route: its prefix stripped when asked, unknown paths to index.html for an SPA. */
  #fileServer(r: StaticSiteRoute, root: string): unknown {
    const prefix = r.path.endsWith('/') ? r.path.slice(0, -1) : r.path;
    return {
      handler: 'subroute',
      routes: [
        ...(r.strip && r.path !== '/' ? [{ handle: [{ handler: 'rewrite', strip_path_prefix: prefix }] }] : []),
        ...(r.spa
          ? [
              {
                // Not for a path with an extension (/assets/x.js): a missing file is a 404, as with the builtin proxy.
                match: [
                  {
                    file: { root, try_files: ['{http.request.uri.path}', '/index.html'] },
                    not: [{ path_regexp: { pattern: '\\.[^/.]+$' } }],
                  },
                ],
                handle: [{ handler: 'rewrite', uri: '{http.matchers.file.relative}' }],
              },
            ]
          : []),
        { handle: [{ handler: 'file_server', root }] },
      ],
    };
  }

  /** HTTP -> HTTPS for one TLS host, keeping a non-default HTTPS port. */
  redirect(host: string): unknown {
    const port = this.#httpsPort === 443 ? '' : `:${this.#httpsPort}`;
    return {
      '@id': redirectId(host),
      match: [{ host: [host] }],
      handle: [
        {
          handler: 'static_response',
          status_code: 308,
          headers: { Location: [`https://{http.request.host}${port}{http.request.uri}`] },
        },
      ],
      terminal: true,
    };
  }
}
