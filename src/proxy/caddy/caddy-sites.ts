import path from 'node:path';
import type { Logger } from 'pino';
import { BerthError } from '../../core/errors.js';
import type { Site } from '../edge/sites.js';
import type { CaddyAdmin } from './admin.js';
import {
  canonical,
  CaddyRoutes,
  HTTP_SERVER,
  isBerthRoute,
  plainId,
  redirectId,
  routeId,
  routesOf,
  SERVER,
  type CaddyRoute,
} from './caddy-routes.js';
import { StaticRoots } from './static-roots.js';
import type { CaddyTlsPolicies, TlsMode } from './tls-policies.js';
import type { CaddyOptions } from './caddy-edge.js';

/**
 * Berth's routes in Caddy's config, one per host (by `@id`), with a redirect per TLS host and
 * the static roots they serve; the TLS policies are set around them.
 */
export class CaddySites {
  readonly #admin: CaddyAdmin;
  readonly #tls: CaddyTlsPolicies;
  readonly #routes: CaddyRoutes;
  readonly #roots: StaticRoots;
  readonly #log: Logger;
  readonly #warned = new Set<string>();

  constructor(admin: CaddyAdmin, tls: CaddyTlsPolicies, o: CaddyOptions, dir: string) {
    this.#admin = admin;
    this.#tls = tls;
    this.#log = o.log;
    this.#routes = new CaddyRoutes(o);
    this.#roots = new StaticRoots(path.join(dir, 'roots'), o.log);
  }

  /** The TLS mode Caddy gives each host: `auto` on a name no public CA certifies becomes `internal`. */
  #modes(sites: readonly Site[]): Map<string, TlsMode> {
    const modes = new Map<string, TlsMode>();
    for (const s of sites) for (const h of s.hosts) modes.set(h, this.#tls.effective(h, s.tls?.[h] ?? 'auto'));
    return modes;
  }

  /** The `@id`s of Berth's routes per server: a host's route where its TLS mode puts it, and a redirect for a TLS host. */
  #ids(modes: ReadonlyMap<string, TlsMode>): Map<string, string[]> {
    const ids = new Map<string, string[]>([
      [SERVER, []],
      [HTTP_SERVER, []],
    ]);
    for (const [host, mode] of modes) {
      if (mode === 'off') ids.get(HTTP_SERVER)?.push(plainId(host));
      else ids.get(SERVER)?.push(routeId(host));
      if (mode !== 'off') ids.get(HTTP_SERVER)?.push(redirectId(host));
    }
    return ids;
  }

  /** The `@id`s of Berth's routes per server for these sites. */
  ids(sites: readonly Site[]): Map<string, string[]> {
    return this.#ids(this.#modes(sites));
  }

  /** Makes Caddy's Berth routes and TLS policies those of `sites`, sending only the differences. */
  async apply(sites: readonly Site[]): Promise<void> {
    const modes = this.#modes(sites);
    this.#warnFallbacks(sites);
    const siteOf = new Map(sites.flatMap((s) => s.hosts.map((h) => [h, s] as const)));
    const links = this.#roots.link(sites);
    await this.#tls.apply(modes, 'before');
    for (const [server, ids] of this.#ids(modes)) {
      const got = await this.#admin.call<CaddyRoute[]>('GET', routesOf(server));
      if (got.status >= 400)
        throw new BerthError('failed', 'caddy_failed', `reading Berth's routes from Caddy: ${got.text.trim()}`);
      const have = new Map(
        (Array.isArray(got.body) ? got.body : []).filter(isBerthRoute).map((r) => [r['@id'] as string, canonical(r)]),
      );
      const want = new Map<string, unknown>();
      for (const [host] of modes) {
        const site = siteOf.get(host);
        for (const id of [routeId(host), plainId(host)])
          if (ids.includes(id))
            want.set(id, this.#routes.host(id, host, site?.statics ?? [], site?.paths?.[host] ?? [], links));
        if (ids.includes(redirectId(host))) want.set(redirectId(host), this.#routes.redirect(host));
      }
      for (const id of have.keys()) if (!want.has(id)) await this.#admin.ok('DELETE', `/id/${id}`);
      for (const [id, route] of want) {
        if (!have.has(id))
          await this.#admin.ok('PUT', `${routesOf(server)}/0`, route); // ahead of the fallback
        else if (have.get(id) !== canonical(route)) await this.#admin.ok('PATCH', `/id/${id}`, route); // a static route came or went
      }
    }
    await this.#tls.apply(modes, 'after');
    this.#roots.unlinkExcept(new Set(links.keys()));
  }

  #warnFallbacks(sites: readonly Site[]): void {
    for (const s of sites)
      for (const h of s.hosts) {
        const why = (s.tls?.[h] ?? 'auto') === 'auto' ? this.#tls.fallback(h) : undefined;
        if (why && !this.#warned.has(h))
          this.#log.warn(
            { host: h, why },
            'tls: auto on a name no public CA certifies: Caddy uses its internal CA for it',
          );
        if (why) this.#warned.add(h);
      }
  }
}
