import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { writeFileAtomic } from '../../system/atomic-write.js';
import { tailLines } from '../../runtime/log-files.js';
import type { Edge, EdgeOptions } from '../edge/edge-proxy.js';
import { endProcesses, findProcesses, type ProxyProcess } from '../edge/own-processes.js';
import { isSameProcessAlive } from '../../system/proc.js';
import { probeTls } from '../edge/tls-probe.js';
import type { EdgeRoute, TlsHandshake } from '../proxy.js';
import type { Site } from '../edge/sites.js';
import { CaddyAdmin } from './admin.js';
import { dialsOf, HTTP_SERVER, SERVER, type CaddyRoute } from './caddy-routes.js';
import { CaddySites } from './caddy-sites.js';
import { CaddyTlsPolicies, type AcmeOptions } from './tls-policies.js';

export interface CaddyOptions extends EdgeOptions, AcmeOptions {
  /** Attach to a running Caddy at this admin address instead of running Berth's own. */
  readonly admin?: string | undefined;
}

type Servers = Record<string, { routes?: CaddyRoute[] }>;

/**
 * Caddy in front of the builtin proxy, driven through its admin API. Berth owns one server
 * ("berth") and, in it, routes whose `@id`s start with "berth-host-" (and "berth-plain-" in "berth_http"), plus its two TLS
 * automation policies; it changes them one by one and touches nothing else in the config.
 * Every host goes to the builtin proxy, so deploys never change Caddy's config.
 */
export class CaddyEdge implements Edge {
  readonly kind = 'caddy';
  readonly #o: CaddyOptions;
  readonly #dir: string;
  readonly #admin: CaddyAdmin;
  readonly #tls: CaddyTlsPolicies;
  readonly #sites: CaddySites;
  #last: readonly Site[] | undefined;
  /** The Caddy process (`#serving()`) the watcher last found with all of Berth's routes. */
  #checked: string | undefined;

  constructor(o: CaddyOptions) {
    this.#o = o;
    this.#dir = path.join(o.home, 'caddy');
    this.#admin = new CaddyAdmin(o.admin ?? `unix/${path.join(this.#dir, 'admin.sock')}`);
    this.#tls = new CaddyTlsPolicies(this.#admin, o);
    this.#sites = new CaddySites(this.#admin, this.#tls, o, this.#dir);
  }

  get port(): number {
    return this.#o.httpPort;
  }

  get httpsPort(): number {
    return this.#o.httpsPort;
  }

  get #config(): string {
    return path.join(this.#dir, 'caddy.json');
  }

  /** Every Caddy of this BERTH_HOME (`caddy run --config BERTH_HOME/caddy/caddy.json`); none when attached. */
  processes(): ProxyProcess[] {
    if (this.#o.admin) return [];
    return findProcesses((argv) => argv.includes(this.#config));
  }

  /** The Caddy Berth runs: the one its pid file names, else the only one there is. */
  pid(): number | undefined {
    const all = this.processes();
    let named: number | undefined;
    try {
      named = Number(readFileSync(path.join(this.#dir, 'caddy.pid'), 'utf8').trim());
    } catch {
      named = undefined;
    }
    return all.find((p) => p.pid === named)?.pid ?? (all.length === 1 ? all[0]?.pid : undefined);
  }

  leftovers(): ProxyProcess[] {
    const serving = this.pid();
    return this.processes().filter((p) => p.pid !== serving);
  }

  async #reachable(): Promise<boolean> {
    return this.#admin.call('GET', '/config/apps/http/servers').then(
      (r) => r.status === 200,
      () => false,
    );
  }

  #initialConfig(): unknown {
    return {
      admin: { listen: `unix/${path.join(this.#dir, 'admin.sock')}` },
      // berthd asks the admin API every second: those requests are not logged, Caddy's warnings and errors are.
      logging: { logs: { default: { exclude: ['admin.api'] }, admin: { include: ['admin.api'], level: 'WARN' } } },
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
    if (await this.#reachable()) {
      await this.#ensureServer();
      return;
    }
    if (this.#o.admin)
      throw new BerthError(
        'unavailable',
        'caddy_unreachable',
        `Caddy's admin API at ${this.#o.admin} does not answer`,
        { hint: 'start Caddy, or fix caddy.admin in config.yaml' },
      );
    // A Caddy of this home whose admin API does not answer serves an old config on the ports: it goes first.
    const stale = this.processes();
    if (stale.length > 0) {
      this.#o.log.warn(
        { pids: stale.map((p) => p.pid) },
        "ending Caddy processes of this BERTH_HOME that do not answer on Berth's admin socket",
      );
      await endProcesses(stale);
    }
    await this.#spawn();
  }

  async #spawn(): Promise<void> {
    mkdirSync(path.join(this.#dir, 'data'), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.#config, JSON.stringify(this.#initialConfig(), null, 2));
    const out = openSync(path.join(this.#dir, 'caddy.log'), 'a', 0o600);
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: this.#dir,
      XDG_DATA_HOME: path.join(this.#dir, 'data'),
      XDG_CONFIG_HOME: path.join(this.#dir, 'config'),
    };
    let child;
    try {
      child = spawn(this.#o.binary, ['run', '--config', this.#config, '--pidfile', path.join(this.#dir, 'caddy.pid')], {
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
        this.#o.log.info({ port: this.#o.httpPort, pid: child.pid }, 'caddy started');
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

  /**
   * Restarts Berth's own Caddy if it died; re-applies the routes if any of Berth's is missing (a
   * Caddy restarted empty). Berth's own Caddy is asked only when its process is not the one Berth
   * last found complete: checking costs nothing then, and Caddy's log stays quiet.
   */
  async watch(): Promise<void> {
    // The Caddy last found with every route still runs: nothing to look at (no scan of /proc each second).
    const [pid, ticks] = (this.#checked ?? '').split(' ');
    if (pid && ticks !== undefined && isSameProcessAlive(Number(pid), ticks)) return;
    const serving = this.#serving();
    if (serving && serving === this.#checked) return;
    const got = await this.#admin.call<Servers | null>('GET', '/config/apps/http/servers').catch(() => undefined);
    if (!got) {
      if (!this.#o.admin) await this.start();
      this.#checked = this.#serving();
      return;
    }
    const sites = this.#last ?? [];
    const servers = (got.status === 200 ? got.body : undefined) ?? {};
    const missing = [...this.#sites.ids(sites)].some(
      ([server, ids]) => !ids.every((id) => (servers[server]?.routes ?? []).some((r) => r['@id'] === id)),
    );
    if (missing) {
      this.#o.log.warn("Caddy lost Berth's routes (restarted empty?): applying them again");
      await this.applySites(sites);
    }
    this.#checked = serving;
  }

  /** "pid start-time" of Berth's own Caddy, when it runs (undefined when attached). */
  #serving(): string | undefined {
    const pid = this.pid();
    const p = pid === undefined ? undefined : this.processes().find((x) => x.pid === pid);
    return p ? `${p.pid} ${p.startTicks}` : undefined;
  }

  /** Every reverse_proxy route in Caddy's live config, Berth's (by `@id`) and others'. */
  async routes(): Promise<EdgeRoute[]> {
    const servers = (await this.#admin.call<Servers>('GET', '/config/apps/http/servers')).body ?? {};
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

  /** Stops Berth's own Caddy, and every other Caddy of this BERTH_HOME; resolves once none runs. */
  async stop(): Promise<void> {
    if (this.#o.admin) return;
    if (await this.#reachable()) await this.#admin.call('POST', '/stop').catch(() => undefined);
    await endProcesses(this.processes());
    rmSync(path.join(this.#dir, 'caddy.pid'), { force: true });
    this.#checked = undefined;
  }

  tlsFallback(host: string): string | undefined {
    return this.#tls.fallback(host);
  }

  tlsProbe(hosts: readonly string[]): Promise<TlsHandshake[]> {
    return Promise.all(hosts.map((h) => probeTls(this.#o.httpsPort, h)));
  }

  /**
   * Adds and removes Berth's host routes one by one (by `@id`) and sets its TLS policies.
   * When the sites are what Caddy already has, nothing is sent: a deploy does not touch Caddy.
   */
  async applySites(sites: readonly Site[]): Promise<void> {
    await this.#ensureServer(); // an attached Caddy may have been restarted or reconfigured by someone else
    await this.#sites.apply(sites);
    this.#last = sites;
  }
}
