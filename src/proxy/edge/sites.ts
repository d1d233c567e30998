import type { RouteTable } from '../route-table.js';
import { compareText } from '../../core/names.js';

/** A static route, for an edge that serves files itself (Caddy's file_server). */
export interface StaticSiteRoute {
  readonly host: string;
  /** Path prefix, starting with "/". */
  readonly path: string;
  readonly strip: boolean;
  readonly spa: boolean;
  /** The directory of the release serving now; changes with every deploy. */
  readonly root: string;
  /** Stable per app, environment and service: "<app>.<env>.<service>" (names are DNS labels, so no dots of their own). */
  readonly key: string;
}

/** What an edge (Caddy, nginx) needs to know: hostnames per app, and TLS. Upstreams live behind it. */
export interface Site {
  readonly app: string;
  readonly hosts: readonly string[];
  /** HTTPS per host; a host some route turns off stays plain. */
  readonly tls?: Readonly<Record<string, 'auto' | 'internal' | 'off'>>;
  /** Every route's path prefix per host, longest first (an edge serving static routes must order them as the builtin proxy does). */
  readonly paths?: Readonly<Record<string, readonly string[]>>;
  readonly statics?: readonly StaticSiteRoute[];
}

/**
 * The sites of a route table: one per app, with its hostnames. An edge's config depends
 * only on this, never on instances or ports, so a deploy (which changes upstreams) leaves
 * the edge untouched; only a new or removed hostname changes it. Static roots do change
 * per deploy: an edge that serves them reaches them through a stable link of its own.
 */
export function sitesOf(table: RouteTable): Site[] {
  const byApp = new Map<string, Set<string>>();
  const tls = new Map<string, Record<string, 'auto' | 'internal' | 'off'>>();
  const paths = new Map<string, Record<string, string[]>>();
  const statics = new Map<string, StaticSiteRoute[]>();
  for (const r of table.routes) {
    byApp.set(r.app, (byApp.get(r.app) ?? new Set()).add(r.host));
    const modes = tls.get(r.app) ?? {};
    const mode = r.tls ?? 'auto';
    modes[r.host] =
      modes[r.host] === 'off' || mode === 'off'
        ? 'off'
        : modes[r.host] === 'internal' || mode === 'internal'
          ? 'internal'
          : 'auto';
    tls.set(r.app, modes);
    const p = paths.get(r.app) ?? {};
    (p[r.host] ??= []).push(r.path);
    paths.set(r.app, p);
    if (r.static)
      statics.set(r.app, [
        ...(statics.get(r.app) ?? []),
        {
          host: r.host,
          path: r.path,
          strip: r.strip,
          spa: r.static.spa,
          root: r.static.root,
          key: `${r.app}.${r.env}.${r.service}`,
        },
      ]);
  }
  const longestFirst = (list: string[]) => [...new Set(list)].sort((a, b) => b.length - a.length || compareText(a, b));
  return [...byApp]
    .sort(([a], [b]) => compareText(a, b))
    .map(([app, hosts]) => {
      const own = statics.get(app);
      const sorted = Object.fromEntries(
        Object.entries(paths.get(app) ?? {}).map(([h, list]) => [h, longestFirst(list)]),
      );
      return {
        app,
        hosts: [...hosts].sort(),
        tls: tls.get(app) ?? {},
        ...(own ? { paths: sorted, statics: own } : {}),
      };
    });
}
