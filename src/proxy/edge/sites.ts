import type { RouteTable } from '../route-table.js';

/** What an edge (Caddy, nginx) needs to know: hostnames per app, and TLS. Upstreams live behind it. */
export interface Site {
  readonly app: string;
  readonly hosts: readonly string[];
  /** HTTPS per host; a host some route turns off stays plain. */
  readonly tls?: Readonly<Record<string, 'auto' | 'internal' | 'off'>>;
}

/**
 * The sites of a route table: one per app, with its hostnames. An edge's config depends
 * only on this, never on instances or ports, so a deploy (which changes upstreams) leaves
 * the edge untouched; only a new or removed hostname changes it.
 */
export function sitesOf(table: RouteTable): Site[] {
  const byApp = new Map<string, Set<string>>();
  const tls = new Map<string, Record<string, 'auto' | 'internal' | 'off'>>();
  for (const r of table.routes) {
    byApp.set(r.app, (byApp.get(r.app) ?? new Set()).add(r.host));
    const modes = tls.get(r.app) ?? {};
    const mode = r.tls ?? 'auto';
    modes[r.host] = modes[r.host] === 'off' || mode === 'off' ? 'off' : modes[r.host] === 'internal' || mode === 'internal' ? 'internal' : 'auto';
    tls.set(r.app, modes);
  }
  return [...byApp].sort(([a], [b]) => a.localeCompare(b)).map(([app, hosts]) => ({ app, hosts: [...hosts].sort(), tls: tls.get(app) ?? {} }));
}
