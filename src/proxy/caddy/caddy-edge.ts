import { spawn } from 'node:child_process';
import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { writeFileAtomic } from '../../system/atomic-write.js';
import { tailLines } from '../../runtime/log-files.js';
import type { Edge, EdgeOptions } from '../edge/edge-proxy.js';
import type { EdgeRoute } from '../proxy.js';
import type { Site, StaticSiteRoute } from '../edge/sites.js';
import { CaddyAdmin } from './admin.js';

export interface CaddyOptions extends EdgeOptions {
  /** E-mail for ACME accounts (Let's Encrypt), for hosts with `tls: auto`. */
  readonly acmeEmail?: string | undefined;
  /** ACME directory URL (default: Caddy's own choice, Let's Encrypt) and the PEM root that signs its TLS certificate. */
  readonly acmeCa?: string | undefined;
  readonly acmeCaRoot?: string | undefined;
  /** Attach to a running Caddy at this admin address instead of running Berth's own. */
  readonly admin?: string | undefined;
}

/** HTTPS hosts live in server "berth" (listening on the HTTPS port); plain ones in "berth_http", where Caddy also puts its HTTP->HTTPS redirects. */
const SERVER = 'berth';
const HTTP_SERVER = 'berth_http';
const routesOf = (server: string) => `/config/apps/http/servers/${server}/routes`;
const routeId = (host: string) => `berth-host-${host.replace(/\./g, '_')}`;
const redirectId = (host: string) => `berth-redirect-${host.replace(/\./g, '_')}`;

interface CaddyRoute {
  readonly '@id'?: string;
  readonly match?: Array<{ host?: string[] }>;
  readonly handle?: CaddyHandler[];
}

interface CaddyHandler {
  readonly handler?: string;
  readonly upstreams?: Array<{ dial?: string }>;
  readonly routes?: CaddyRoute[];
}

/** Upstreams of a route's reverse_proxy handlers, also inside subroutes. */
function dialsOf(route: CaddyRoute): string[] {
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
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** A path prefix as a case-sensitive Caddy matcher (Caddy's `path` matcher ignores case; the builtin proxy does not). */
function prefixMatcher(prefix: string): Array<Record<string, unknown>> {
  if (prefix === '/') return [];
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [{ path_regexp: { pattern: prefix.endsWith('/') ? `^${escaped}` : `^${escaped}(/|$)` } }];
}

/**
 * Caddy in front of the builtin proxy, driven through its admin API. Berth owns one server
 * ("berth") and, in it, routes whose `@id`s start with "berth-host-", plus its two TLS
 * automation policies; it changes them one by one and touches nothing else in the config.
 * Every host goes to the builtin proxy, so deploys never change Caddy's config.
 */
export class CaddyEdge implements Edge {
  readonly kind = 'caddy';
  readonly #o: CaddyOptions;
  readonly #dir: string;
  readonly #admin: CaddyAdmin;
  #last: readonly Site[] | undefined;
  /** Static roots checked for symlinks that lead out of them (release dirs never change once made). */
  readonly #rootSafe = new Map<string, boolean>();

  constructor(o: CaddyOptions) {
    this.#o = o;
    this.#dir = path.join(o.home, 'caddy');
    this.#admin = new CaddyAdmin(o.admin ?? `unix/${path.join(this.#dir, 'admin.sock')}`);
  }

  get port(): number {
    return this.#o.httpPort;
  }

  get httpsPort(): number {
    return this.#o.httpsPort;
  }

  pid(): number | undefined {
    if (this.#o.admin) return undefined;
    try {
      const pid = Number(readFileSync(path.join(this.#dir, 'caddy.pid'), 'utf8').trim());
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  async #reachable(): Promise<boolean> {
    return this.#admin.call('GET', '/config/').then(
      (r) => r.status === 200,
      () => false,
    );
  }

  #initialConfig(): unknown {
    return {
      admin: { listen: `unix/${path.join(this.#dir, 'admin.sock')}` },
      storage: { module: 'file_system', root: path.join(this.#dir, 'data') },
      apps: {
        pki: { certificate_authorities: { local: { install_trust: false } } },
        http: {
          http_port: this.#o.httpPort,
          https_port: this.#o.httpsPort,
          servers: { [SERVER]: this.#server(SERVER), [HTTP_SERVER]: this.#server(HTTP_SERVER) },
        },
      },
    };
  }

  /** Berth writes its own HTTP->HTTPS redirects (one per TLS host, keeping a non-default port), so Caddy's catch-all ones are off. */
  #server(name: string): unknown {
    // Last route of each server: unknown hosts get the builtin proxy's bare 404 (Caddy alone would answer an empty 200).
    const fallback = {
      '@id': `berth-fallback-${name}`,
      handle: [{ handler: 'static_response', status_code: 404, body: '404 Not Found\n' }],
    };
    // berth_http is plain HTTP whatever Caddy's http_port says (an attached Caddy keeps its own).
    return name === SERVER
      ? { listen: [`:${this.#o.httpsPort}`], routes: [fallback], automatic_https: { disable_redirects: true } }
      : { listen: [`:${this.#o.httpPort}`], routes: [fallback], automatic_https: { disable: true } };
  }

  /** Starts Berth's own Caddy (state under BERTH_HOME/caddy), or checks the one it attaches to. */
  async start(): Promise<void> {
    if (await this.#reachable()) return this.#ensureServer();
    if (this.#o.admin)
      throw new BerthError(
        'unavailable',
        'caddy_unreachable',
        `Caddy's admin API at ${this.#o.admin} does not answer`,
        { hint: 'start Caddy, or fix caddy.admin in config.yaml' },
      );
    const stale = this.pid();
    if (stale)
      throw new BerthError(
        'failed',
        'caddy_unreachable',
        `Berth's Caddy (pid ${stale}) runs but its admin API does not answer`,
        { hint: `stop it (kill ${stale}); berthd starts a new one` },
      );
    mkdirSync(path.join(this.#dir, 'data'), { recursive: true, mode: 0o700 });
    const config = path.join(this.#dir, 'caddy.json');
    writeFileAtomic(config, JSON.stringify(this.#initialConfig(), null, 2));
    const out = openSync(path.join(this.#dir, 'caddy.log'), 'a', 0o600);
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: this.#dir,
      XDG_DATA_HOME: path.join(this.#dir, 'data'),
      XDG_CONFIG_HOME: path.join(this.#dir, 'config'),
    };
    let child;
    try {
      child = spawn(this.#o.binary, ['run', '--config', config, '--pidfile', path.join(this.#dir, 'caddy.pid')], {
        detached: true,
        stdio: ['ignore', out, out],
        env,
        shell: false,
      });
    } finally {
      closeSync(out);
    }
    child.on('error', () => undefined);
    child.unref();
    for (let i = 0; i < 200; i++) {
      if (await this.#reachable()) {
        this.#o.log.info({ port: this.#o.httpPort }, 'caddy started');
        if (this.#last) await this.applySites(this.#last);
        return;
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new BerthError(
      'failed',
      'caddy_start_failed',
      `Caddy did not start: ${tailLines(path.join(this.#dir, 'caddy.log'), 3).join(' | ') || 'is it installed?'}`,
      { hint: 'apt-get install caddy; and check that the HTTP and HTTPS ports are free' },
    );
  }

  async #ensureServer(): Promise<void> {
    for (const name of [SERVER, HTTP_SERVER]) {
      const r = await this.#admin.call('GET', `/config/apps/http/servers/${name}`);
      if (r.status === 200 && r.body) continue;
      const put = await this.#admin.call('PUT', `/config/apps/http/servers/${name}`, this.#server(name));
      if (put.status >= 400)
        throw new BerthError('failed', 'caddy_failed', `creating Berth's server ${name} in Caddy: ${put.text.trim()}`);
    }
  }

  /** Restarts Berth's own Caddy if it died; re-applies the routes if it came back empty. */
  async watch(): Promise<void> {
    if (!(await this.#reachable())) {
      if (!this.#o.admin) await this.start();
      return;
    }
    const routes = await this.#admin.call<CaddyRoute[]>('GET', routesOf(HTTP_SERVER));
    const wanted = (this.#last ?? []).flatMap((s) => s.hosts).length;
    if (
      wanted > 0 &&
      (routes.status !== 200 ||
        !(Array.isArray(routes.body) ? routes.body : []).some((x) => x['@id']?.startsWith('berth-host-')))
    ) {
      this.#o.log.warn("Caddy lost Berth's routes (restarted empty?): applying them again");
      await this.#ensureServer();
      const sites = this.#last ?? [];
      this.#last = undefined;
      await this.applySites(sites);
    }
  }

  /** Every reverse_proxy route in Caddy's live config, Berth's (by `@id`) and others'. */
  async routes(): Promise<EdgeRoute[]> {
    const servers =
      (await this.#admin.call<Record<string, { routes?: CaddyRoute[] }>>('GET', '/config/apps/http/servers')).body ??
      {};
    const out: EdgeRoute[] = [];
    for (const [name, server] of Object.entries(servers)) {
      for (const [i, r] of (server.routes ?? []).entries()) {
        const dials = [...new Set(dialsOf(r))];
        if (dials.length > 0)
          out.push({
            berth: r['@id']?.startsWith('berth-') === true,
            hosts: (r.match ?? []).flatMap((m) => m.host ?? []),
            dials,
            where: `Caddy /config/apps/http/servers/${name}/routes/${i}`,
          });
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.#o.admin || !(await this.#reachable())) return;
    await this.#admin.call('POST', '/stop').catch(() => undefined);
  }

  /**
   * Adds and removes Berth's host routes one by one (by `@id`) and sets its TLS policies.
   * When the sites are what Caddy already has, nothing is sent: a deploy does not touch Caddy.
   */
  async applySites(sites: readonly Site[]): Promise<void> {
    await this.#ensureServer(); // an attached Caddy may have been restarted or reconfigured by someone else
    const hosts = new Map<string, 'auto' | 'internal' | 'off'>();
    const siteOf = new Map<string, Site>();
    for (const s of sites) for (const h of s.hosts) hosts.set(h, s.tls?.[h] ?? 'auto');
    for (const s of sites) for (const h of s.hosts) siteOf.set(h, s);
    const links = this.#linkRoots(sites);
    // A host must have its TLS policy for as long as its route exists, or Caddy starts
    // obtaining a public certificate for it: policies for the union first, routes, then the exact policies.
    const by = (mode: string) =>
      [...hosts]
        .filter(([, m]) => m === mode)
        .map(([h]) => h)
        .sort();
    const kept = await this.#policyHosts();
    await this.#setPolicies(
      [...new Set([...by('internal'), ...kept.internal])].sort(),
      [...new Set([...by('auto'), ...kept.auto])].sort(),
    );
    for (const server of [SERVER, HTTP_SERVER]) {
      const got = await this.#admin.call<CaddyRoute[]>('GET', routesOf(server));
      if (got.status >= 400)
        throw new BerthError('failed', 'caddy_failed', `reading Berth's routes from Caddy: ${got.text.trim()}`);
      const have = new Map(
        (Array.isArray(got.body) ? got.body : [])
          .filter((r) => /^berth-(host|redirect)-/.test(r['@id'] ?? ''))
          .map((r) => [r['@id'] as string, canonical(r)]),
      );
      const want = new Map<string, unknown>();
      for (const [host, mode] of hosts) {
        if ((server === SERVER) === (mode !== 'off'))
          want.set(routeId(host), this.#hostRoute(host, siteOf.get(host), links));
        else if (server === HTTP_SERVER) want.set(redirectId(host), this.#redirectRoute(host));
      }
      for (const id of have.keys()) if (!want.has(id)) await this.#ok('DELETE', `/id/${id}`);
      for (const [id, route] of want) {
        if (!have.has(id))
          await this.#ok('PUT', `${routesOf(server)}/0`, route); // ahead of the fallback
        else if (have.get(id) !== canonical(route)) await this.#ok('PATCH', `/id/${id}`, route); // a static route came or went
      }
    }
    await this.#setPolicies(by('internal'), by('auto'));
    this.#unlinkRoots(new Set(links.keys()));
    this.#last = sites;
  }

  #proxy(): unknown {
    return { handler: 'reverse_proxy', upstreams: [{ dial: `127.0.0.1:${this.#o.upstreamPort}` }] };
  }

  /**
   * Everything for a host goes to the builtin proxy, except its static routes, which Caddy's
   * file_server serves from a stable link to the current release. Prefixes are tried longest
   * first, as the builtin proxy does, so "/api/" of another service still wins over a static "/".
   */
  #hostRoute(host: string, site: Site | undefined, links: ReadonlyMap<string, string>): unknown {
    const statics = (site?.statics ?? []).filter((r) => r.host === host && links.has(r.key));
    if (statics.length === 0)
      return { '@id': routeId(host), match: [{ host: [host] }], handle: [this.#proxy()], terminal: true };
    const routes = (site?.paths?.[host] ?? []).map((p) => {
      const st = statics.find((r) => r.path === p);
      return {
        ...(p === '/' ? {} : { match: prefixMatcher(p) }),
        handle: [st ? this.#fileServer(st, links.get(st.key) as string) : this.#proxy()],
        terminal: true,
      };
    });
    if (!statics.some((r) => r.path === '/')) routes.push({ handle: [this.#proxy()], terminal: true });
    return {
      '@id': routeId(host),
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

  /**
   * Points one link per static service (BERTH_HOME/caddy/roots/<app>.<env>.<service>) at the
   * release serving now, swapped with a rename, so a deploy changes the files Caddy serves
   * without changing Caddy's config. A root with a symlink leading out of it is left to the
   * builtin proxy, which refuses such links (Caddy's file_server follows them).
   */
  #linkRoots(sites: readonly Site[]): Map<string, string> {
    const links = new Map<string, string>();
    const dir = path.join(this.#dir, 'roots');
    for (const r of sites.flatMap((s) => s.statics ?? [])) {
      if (links.has(r.key)) continue;
      if (!this.#safeRoot(r.root)) {
        this.#o.log.warn(
          { root: r.root },
          'a symlink in this static directory leads out of it: the builtin proxy serves it instead of Caddy',
        );
        continue;
      }
      const link = path.join(dir, r.key);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      let current: string | undefined;
      try {
        current = readlinkSync(link);
      } catch {
        current = undefined;
      }
      if (current !== r.root) {
        const tmp = `${link}.${process.pid}.tmp`;
        rmSync(tmp, { force: true });
        symlinkSync(r.root, tmp);
        renameSync(tmp, link);
      }
      links.set(r.key, link);
    }
    return links;
  }

  #unlinkRoots(keep: ReadonlySet<string>): void {
    const dir = path.join(this.#dir, 'roots');
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) if (!keep.has(name)) rmSync(path.join(dir, name), { force: true });
  }

  #safeRoot(root: string): boolean {
    const known = this.#rootSafe.get(root);
    if (known !== undefined) return known;
    let safe = true;
    try {
      const real = realpathSync.native(root);
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          const full = path.join(d, e.name);
          if (e.isSymbolicLink()) {
            let target: string;
            try {
              target = realpathSync.native(full);
            } catch {
              safe = false; // dangling now, pointing anywhere later: Caddy (as root) would follow it
              return;
            }
            if (target !== real && !target.startsWith(real + path.sep)) safe = false;
          } else if (e.isDirectory()) walk(full);
          if (!safe) return;
        }
      };
      if (lstatSync(real).isDirectory()) walk(real);
    } catch {
      safe = true; // a missing root serves 404s either way
    }
    this.#rootSafe.set(root, safe);
    return safe;
  }

  #redirectRoute(host: string): unknown {
    const port = this.#o.httpsPort === 443 ? '' : `:${this.#o.httpsPort}`;
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

  #acmeIssuer(): Record<string, unknown> {
    const o = this.#o;
    return {
      module: 'acme',
      ...(o.acmeCa ? { ca: o.acmeCa } : {}),
      ...(o.acmeCaRoot ? { trusted_roots_pem_files: [o.acmeCaRoot] } : {}),
      ...(o.acmeEmail ? { email: o.acmeEmail } : {}),
    };
  }

  async #policyHosts(): Promise<{ internal: string[]; auto: string[] }> {
    const tls =
      (
        await this.#admin.call<{ automation?: { policies?: Array<{ '@id'?: string; subjects?: string[] }> } } | null>(
          'GET',
          '/config/apps/tls',
        )
      ).body ?? null;
    const of = (id: string) => tls?.automation?.policies?.find((p) => p['@id'] === id)?.subjects ?? [];
    return { internal: of('berth-tls-internal'), auto: of('berth-tls-auto') };
  }

  async #setPolicies(internal: string[], auto: string[]): Promise<void> {
    const policies = [
      ...(internal.length
        ? [{ '@id': 'berth-tls-internal', subjects: internal, issuers: [{ module: 'internal' }] }]
        : []),
      ...(auto.length ? [{ '@id': 'berth-tls-auto', subjects: auto, issuers: [this.#acmeIssuer()] }] : []),
    ];
    const tls =
      (
        await this.#admin.call<{ automation?: { policies?: Array<{ '@id'?: string }> } } | null>(
          'GET',
          '/config/apps/tls',
        )
      ).body ?? null;
    const current = tls?.automation?.policies ?? [];
    const foreign = current.filter((p) => !p['@id']?.startsWith('berth-tls-'));
    if (JSON.stringify(current.filter((p) => p['@id']?.startsWith('berth-tls-'))) === JSON.stringify(policies)) return;
    const all = [...foreign, ...policies];
    if (!tls) await this.#ok('PUT', '/config/apps/tls', { automation: { policies: all } });
    else if (!tls.automation) await this.#ok('PUT', '/config/apps/tls/automation', { policies: all });
    else await this.#ok(tls.automation.policies ? 'PATCH' : 'PUT', '/config/apps/tls/automation/policies', all);
  }

  async #ok(method: string, p: string, body?: unknown): Promise<void> {
    let r = await this.#admin.call(method, p, body);
    // A config change that fails to load leaves Caddy on its previous config, so it is safe to
    // try again; it happens when Caddy reads a certificate it is still writing from an earlier change.
    for (let i = 0; i < 10 && r.status >= 400 && /loading new config/.test(r.text); i++) {
      await new Promise((res) => setTimeout(res, 100 * (i + 1)));
      r = await this.#admin.call(method, p, body);
    }
    if (r.status >= 400)
      throw new BerthError('failed', 'caddy_failed', `Caddy refused ${method} ${p}: ${r.text.trim()}`, {
        hint: 'see berth proxy status and the caddy log under BERTH_HOME/caddy',
      });
  }
}
