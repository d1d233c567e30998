import type { Logger } from 'pino';
import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError, describe } from '../core/errors.js';
import type { Proxy } from '../proxy/proxy.js';
import type { RouteEntry, RouteTable } from '../proxy/route-table.js';
import type { Store } from '../store/store.js';
import { resolveUnder } from '../system/paths.js';

/** The route table the store describes: every route, with only healthy instances as upstreams. */
export async function buildTable(store: Store, version: number): Promise<RouteTable> {
  const healthy = new Map<number, string[]>();
  for (const v of await store.instances.list()) {
    if (v.state === 'healthy' && v.port !== null) healthy.set(v.serviceId, [...(healthy.get(v.serviceId) ?? []), `127.0.0.1:${v.port}`]);
  }
  const routes: RouteEntry[] = [];
  for (const s of await store.apps.allServices()) {
    const spec = JSON.parse(s.spec) as ServiceSpec;
    for (const r of spec.routes) {
      routes.push({
        host: r.host,
        path: r.path,
        strip: r.strip,
        app: s.app,
        env: s.env,
        service: s.service,
        upstreams: healthy.get(s.id) ?? [],
        ...(spec.static ? { static: { root: resolveUnder(s.sourceDir, spec.static.dir), spa: spec.static.spa } } : {}),
      });
    }
  }
  return { version, routes };
}

/** Refuses routes that another app or environment already claims, naming both owners. */
export async function assertRoutesFree(store: Store, app: string, env: string, specs: readonly ServiceSpec[]): Promise<void> {
  const taken = new Map<string, string>();
  for (const s of await store.apps.allServices()) {
    if (s.app === app && s.env === env) continue;
    for (const r of (JSON.parse(s.spec) as ServiceSpec).routes) taken.set(`${r.host}${r.path}`, `${s.app}/${s.env}/${s.service}`);
  }
  for (const spec of specs) {
    for (const r of spec.routes) {
      const owner = taken.get(`${r.host}${r.path}`);
      if (owner) {
        throw new BerthError('conflict', 'route_taken', `route ${r.host}${r.path} of ${app}/${env}/${spec.name} is already claimed by ${owner}`, {
          hint: 'each host and path prefix belongs to one service: change one of the two routes, or remove the other app',
        });
      }
    }
  }
}

/**
 * Keeps the proxy's table equal to what the store says. Changes are coalesced: a burst of
 * instance state changes becomes one push.
 */
export class RouteSync {
  readonly #store: Store;
  readonly #proxy: Proxy;
  readonly #log: Logger;
  #version = Date.now();
  #pending: Promise<void> | undefined;
  #again = false;

  constructor(deps: { store: Store; proxy: Proxy; log: Logger }) {
    this.#store = deps.store;
    this.#proxy = deps.proxy;
    this.#log = deps.log;
  }

  /** Pushes the current table; resolves when a table at least as new as this call is live. */
  sync(): Promise<void> {
    if (this.#pending) {
      this.#again = true;
      return this.#pending;
    }
    this.#pending = (async () => {
      do {
        this.#again = false;
        const table = await buildTable(this.#store, ++this.#version);
        await this.#proxy.apply(table).catch((err) => this.#log.error({ err: describe(err) }, 'pushing routes to the proxy failed'));
      } while (this.#again);
    })().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }
}
