import type { Logger } from 'pino';
import type { Manifest, ServiceSpec } from '../config/manifest-types.js';
import { BerthError, describe, OUTSIDE } from '../core/errors.js';
import type { Proxy } from '../proxy/proxy.js';
import type { RouteEntry, RouteTable } from '../proxy/route-table.js';
import type { Repos, Store } from '../store/store.js';
import { resolveUnder } from '../system/paths.js';
import { staticRoot } from './deploy/steps.js';
import { storedManifest } from '../config/stored-manifest.js';
import type { StateListener } from './instance-core.js';
import { hasAddress, listenersOf, type NetworkOf } from './service-addresses.js';

/**
 * Upstreams of a service that runs elsewhere than on this host (a Swarm's tasks, see swarm-endpoints.ts): the
 * healthy ones of an environment's release, "address:port"; undefined for a service it does not run.
 */
export type RemoteUpstreams = (app: string, env: string, release: number, service: string) => string[] | undefined;

/** The route table the store describes: each environment's current release, healthy instances wanted running only. */
export async function buildTable(
  store: Store,
  version: number,
  networkOf?: NetworkOf,
  remote?: RemoteUpstreams,
): Promise<RouteTable> {
  const healthy = new Map<string, string[]>();
  const instances = await store.instances.list();
  for (const v of instances) {
    if (!v.current || v.state !== 'healthy' || v.desired !== 'running' || v.port === null) continue;
    const key = `${v.releaseId}/${v.service}`;
    healthy.set(key, [...(healthy.get(key) ?? []), `127.0.0.1:${v.port}`]);
  }
  const routes: RouteEntry[] = [];
  for (const { env, release, manifest } of await currentReleases(store)) {
    for (const spec of manifest.services) {
      for (const r of spec.routes) {
        routes.push({
          host: r.host,
          path: r.path,
          strip: r.strip,
          tls: r.tls,
          app: env.app,
          env: env.name,
          service: spec.name,
          upstreams:
            healthy.get(`${release.id}/${spec.name}`) ?? remote?.(env.app, env.name, release.number, spec.name) ?? [],
          ...(spec.static
            ? { static: { root: safeStatic(release.dir, spec.static.dir, spec.name), spa: spec.static.spa } }
            : {}),
        });
      }
    }
  }
  return { version, routes, listeners: await listenersOf(store, instances, networkOf) };
}

/** The checked real path, or a path that cannot exist (the proxy answers 404) when the check fails. */
function safeStatic(releaseDir: string, dir: string, service: string): string {
  try {
    return staticRoot(releaseDir, dir, service);
  } catch {
    return resolveUnder(releaseDir, '.berth-missing-static');
  }
}

/**
 * A release never changes (and its id, AUTOINCREMENT, is never reused), so its manifest is parsed once, not at every route sync (a sync
 * follows each instance that becomes healthy; a big manifest took 100-200 ms to parse each time).
 */
const manifests = new Map<number, Manifest>();

async function currentReleases(store: Repos) {
  const out = [];
  for (const env of await store.apps.environments()) {
    if (env.currentReleaseId === null) continue;
    const release = await store.releases.get(env.currentReleaseId);
    if (!release) continue;
    let manifest = manifests.get(release.id);
    if (!manifest) {
      if (manifests.size >= 1000) manifests.clear();
      manifest = storedManifest(release.manifest);
      manifests.set(release.id, manifest);
    }
    out.push({ env, release, manifest });
  }
  return out;
}

/**
 * Deploy warnings for hosts on `tls: auto` that the proxy serves with its internal CA instead,
 * because no public CA certifies their name (`.test`, `.localhost`, a single label, an IP address).
 */
export function tlsFallbackWarnings(manifest: Manifest, proxy: Proxy): string[] {
  const modes = new Map<string, string>();
  for (const s of manifest.services)
    for (const r of s.routes) {
      const was = modes.get(r.host);
      modes.set(r.host, was === 'off' || r.tls === 'off' ? 'off' : was === 'internal' ? was : r.tls); // as the edge combines them
    }
  return [...modes]
    .filter(([, mode]) => mode === 'auto')
    .flatMap(([host]) => {
      const why = proxy.tlsFallback?.(host);
      return why
        ? [
            `tls: auto for ${host}: ${why}; ${proxy.kind} serves it with its internal CA instead (browsers do not trust it): write tls: internal (or off) on its routes to say so`,
          ]
        : [];
    });
}

/**
 * Refuses routes that another app or environment already serves, naming the other owner to its
 * own organisation and the host admin (`orgId`: the organisation of `app`, looked up when it exists).
 */
export async function assertRoutesFree(
  store: Repos,
  app: string,
  env: string,
  specs: readonly ServiceSpec[],
  orgId?: number,
): Promise<void> {
  const taken = new Map<string, string>();
  for (const c of await currentReleases(store)) {
    if (c.env.app === app && c.env.name === env) continue;
    for (const s of c.manifest.services)
      for (const r of s.routes) taken.set(`${r.host}${r.path}`, `${c.env.app}/${c.env.name}/${s.name}`);
  }
  for (const spec of specs) {
    for (const r of spec.routes) {
      const owner = taken.get(`${r.host}${r.path}`);
      if (owner) {
        const mine = orgId ?? (await store.apps.find(app))?.orgId;
        const theirs = (await store.apps.find(owner.split('/')[0] as string))?.orgId;
        const what = `route ${r.host}${r.path} of ${app}/${env}/${spec.name} is already claimed by`;
        throw new BerthError(
          'conflict',
          'route_taken',
          `${what} ${mine === theirs ? owner : `another app: ${OUTSIDE}`}`,
          {
            hint: 'each host and path prefix belongs to one service: change one of the two routes, or remove the other app',
            ...(mine === theirs ? {} : { hostDetail: `${what} ${owner}` }),
          },
        );
      }
    }
  }
}

/**
 * Keeps the proxy's table equal to what the store says. Calls are coalesced (a burst of
 * instance state changes becomes one push), and each call resolves only after a table
 * built after it was accepted by the proxy, or rejects with the reason it was not.
 */
export class RouteSync {
  readonly #store: Store;
  readonly #proxy: Proxy;
  readonly #log: Logger;
  readonly #networkOf: NetworkOf | undefined;
  #version = Date.now();
  #requested = 0;
  #running = false;
  #remote: RemoteUpstreams | undefined;
  #waiters: Array<{ gen: number; resolve: () => void; reject: (err: unknown) => void }> = [];

  /** `networkOf`: the container network of an environment, whose gateway its service addresses are put on too. */
  constructor(deps: { store: Store; proxy: Proxy; log: Logger; networkOf?: NetworkOf | undefined }) {
    this.#store = deps.store;
    this.#proxy = deps.proxy;
    this.#log = deps.log;
    this.#networkOf = deps.networkOf;
  }

  /** Services run elsewhere (a swarm): their upstreams come from `remote`; `sync` when they change. */
  useRemote(remote: RemoteUpstreams): void {
    this.#remote = remote;
  }

  sync(): Promise<void> {
    const gen = ++this.#requested;
    const p = new Promise<void>((resolve, reject) => this.#waiters.push({ gen, resolve, reject }));
    if (!this.#running) void this.#loop();
    return p;
  }

  /**
   * Routes follow instances: one that became healthy or stopped being so changes the table when its
   * release is current, or when a service address spreads over its instances (a deploy's new release).
   */
  follow(instances: { onStateChange(listener: StateListener): void }): void {
    instances.onStateChange((v, from, to) => {
      if (from !== 'healthy' && to !== 'healthy') return;
      if (v.current) this.syncQuietly();
      else
        hasAddress(this.#store, v).then(
          (yes) => yes && this.syncQuietly(),
          () => undefined,
        );
    });
  }

  /** For background changes (an instance became healthy): failures are logged, not thrown. */
  syncQuietly(): void {
    this.sync().catch((err) => this.#log.error({ err: describe(err) }, 'pushing routes to the proxy failed'));
  }

  async #loop(): Promise<void> {
    this.#running = true;
    while (this.#waiters.length > 0) {
      const gen = this.#requested;
      let error: unknown;
      try {
        await this.#proxy.apply(await buildTable(this.#store, ++this.#version, this.#networkOf, this.#remote));
      } catch (err) {
        error = err;
      }
      const covered = this.#waiters.filter((w) => w.gen <= gen);
      this.#waiters = this.#waiters.filter((w) => w.gen > gen);
      for (const w of covered) {
        if (error === undefined) w.resolve();
        else w.reject(error);
      }
    }
    this.#running = false;
  }
}
