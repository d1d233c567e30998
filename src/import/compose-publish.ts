import type { Mapped } from './compose-depends.js';
import { at, type Warnings } from './import-warnings.js';

/** The comment above a route the import chose itself, by service name (printed in berth.yaml). */
export type RouteComments = Map<string, string>;

/**
 * A service whose `ports:` publishes a port was reached from outside its compose network, at
 * host:port. Behind Berth, what reaches a service from outside is a route through its proxy (the
 * container's port is published on 127.0.0.1 only, at a leased port), so each such service that
 * has no route of its own (from Traefik labels) gets one on a local host: `<app>.localhost` when it
 * is the only one, else `<service>.<app>.localhost`. Such a host answers on this machine at once
 * (browsers and curl resolve *.localhost to loopback); a warning and a comment ask for the real
 * domain. A well-known data store (postgres, redis, ...) does not speak HTTP: no route, and the
 * warning says how its clients on this host keep their port.
 */
export function routePublished(mapped: Iterable<Mapped>, app: string, warn: Warnings): RouteComments {
  const all = [...mapped];
  const routed = all.filter((m) => m.published !== undefined && !m.published.dataStore && m.out.routes === undefined);
  const taken = new Set(all.flatMap((m) => (Array.isArray(m.out.routes) ? m.out.routes : []).map(hostOf)));
  const comments: RouteComments = new Map();
  for (const m of all) {
    const p = at(m.ctx.path, 'ports');
    const port = m.out.container_port;
    if (m.published?.dataStore)
      warn.add(
        p,
        `published for clients outside its network, but it does not speak HTTP, so Berth's proxy does not route it: this app's services reach it as ${m.ctx.name}:${String(port)}; for clients on this host, pin it on 127.0.0.1 with port: ${pinnable(m.published.host) ?? String(port)}`,
      );
    if (!routed.includes(m)) continue;
    const single = `${app}.localhost`;
    const host = routed.length === 1 && !taken.has(single) ? single : `${m.ctx.name}.${app}.localhost`;
    m.out.routes = [host];
    comments.set(m.ctx.name, ` ${host} answers on this machine only: put your domain here (tls is automatic)`);
    warn.add(
      p,
      `published outside its network: Berth's proxy reaches it on the route ${host}, which answers on this machine only; put the domain it is reached at in its routes (tls is automatic)`,
    );
  }
  return comments;
}

function hostOf(route: unknown): string {
  return typeof route === 'string' ? (route.split('/')[0] as string) : '';
}

/** A host port a service can be pinned to: one number (not a range, not left to the engine). */
function pinnable(host: string | undefined): string | undefined {
  return host !== undefined && /^\d+$/.test(host) ? host : undefined;
}
