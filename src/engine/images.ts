import type { Logger } from 'pino';
import { describe } from '../core/errors.js';
import type { ImagesView, PruneResult } from '../core/image-results.js';
import { EngineError, type ContainerEngine } from '../runtime/container-engine.js';
import type { Store } from '../store/store.js';
import { SwarmServices } from '../runtime/swarm-services.js';
import type { SwarmService } from '../runtime/swarm-types.js';
import { engineDiskUse } from './engine-disk.js';
import type { EnvironmentLocks } from './environment-locks.js';
import { homeImages, homeLabels, imageUses, labelFilter, listImages, tagsOf, type EngineImage } from './images-view.js';

/** Whose things: an app's (or one environment's), or the whole home's; `onlyGone`: only of environments the store no longer has. */
interface Scope {
  readonly app?: string | undefined;
  readonly env?: string | undefined;
  readonly onlyGone: boolean;
}

interface Removed {
  services: string[];
  images: string[];
  containers: string[];
  networks: string[];
  kept: string[];
}

/**
 * What this BERTH_HOME leaves on the container engine besides running containers: the images of
 * its releases, stopped containers, its app environments' networks, and on a swarm manager the
 * Swarm services of app environments that are gone. Only what carries this home's label
 * (`berth.image` on images, `berth.home` on the rest) is ever removed; an image a recorded release runs never is.
 */
export class Images {
  readonly #store: Store;
  readonly #engine: ContainerEngine | undefined;
  readonly #home: string;
  readonly #locks: EnvironmentLocks;
  readonly #log: Logger;

  constructor(deps: {
    store: Store;
    engine: ContainerEngine | undefined;
    home: string;
    locks: EnvironmentLocks;
    log: Logger;
  }) {
    this.#store = deps.store;
    this.#engine = deps.engine;
    this.#home = deps.home;
    this.#locks = deps.locks;
    this.#log = deps.log;
  }

  list(app?: string): Promise<ImagesView> {
    return listImages({ store: this.#store, engine: this.#engine, home: this.#home, ...(app ? { app } : {}) });
  }

  /**
   * `berth images prune`: removes the Swarm services and networks of app environments that are
   * gone, this home's images no kept release uses (each app environment's under its lock, so
   * never the image a deployment just built), and its stopped containers no instance owns. Says what it removed and
   * how much disk the engine uses less.
   */
  async prune(app?: string): Promise<PruneResult> {
    const engine = this.#engine;
    if (!engine)
      return { engine: false, services: [], images: [], containers: [], networks: [], kept: [], freedBytes: 0 };
    const before = await engineDiskUse(engine);
    const out: Removed = { services: [], images: [], containers: [], networks: [], kept: [] };
    await this.#removeServices(engine, { app, onlyGone: true }, out);
    const groups = new Map<string, EngineImage[]>();
    for (const i of await homeImages(engine, this.#home, app)) {
      const key = JSON.stringify([i.owner.app, i.owner.env]);
      groups.set(key, [...(groups.get(key) ?? []), i]);
    }
    for (const [key, images] of groups) {
      const [a, e] = JSON.parse(key) as [string, string];
      await this.#locks.run(a, e, { wait: true, what: 'berth images prune' }, () =>
        this.#removeUnused(engine, images, out),
      );
    }
    await this.#removeStopped(engine, app, undefined, out);
    await this.#removeNetworks(engine, { app, onlyGone: true }, out);
    const after = await engineDiskUse(engine);
    return { engine: true, ...out, freedBytes: Math.max(0, before.total - after.total) };
  }

  /**
   * After `berth rm` / `berth env rm` (holding their locks): the app's (or environment's) Swarm
   * services (their tasks stop on every node), images, stopped containers and networks. Best
   * effort: what stays is logged, and `berth images prune` removes it later.
   */
  async forget(app: string, env?: string): Promise<void> {
    const engine = this.#engine;
    if (!engine) return;
    const out: Removed = { services: [], images: [], containers: [], networks: [], kept: [] };
    try {
      await this.#removeServices(engine, { app, env, onlyGone: false }, out);
      await this.#removeUnused(engine, await homeImages(engine, this.#home, app, env), out);
      await this.#removeStopped(engine, app, env, out);
      await this.#removeNetworks(engine, { app, env, onlyGone: false }, out);
    } catch (err) {
      out.kept.push(describe(err));
    }
    if (out.kept.length > 0) this.#log.warn({ app, env, kept: out.kept }, 'left on the container engine');
  }

  /** Images of this home (see homeImages) that no recorded release runs. */
  async #removeUnused(engine: ContainerEngine, images: readonly EngineImage[], out: Removed): Promise<void> {
    const used = new Set((await imageUses(this.#store)).keys());
    for (const i of images) {
      const tags = tagsOf(i);
      if (used.has(i.Id) || tags.some((t) => used.has(t))) continue;
      // By tag (an image with several tags is removed once the last goes); untagged by id.
      for (const name of tags.length > 0 ? tags : [i.Id]) {
        try {
          await engine.call('DELETE', `/images/${encodeURIComponent(name)}`);
          out.images.push(name);
        } catch (err) {
          if (err instanceof EngineError && err.status === 404) continue;
          out.kept.push(`image ${name}: ${describe(err)}`);
        }
      }
    }
  }

  /** Stopped containers of this home that no recorded instance owns. */
  async #removeStopped(engine: ContainerEngine, app: string | undefined, env: string | undefined, out: Removed) {
    const status = { status: ['exited', 'created', 'dead'] };
    const list = await engine.call<{ Id: string; Names: string[]; Labels: Record<string, string> }[]>(
      'GET',
      `/containers/json?all=1&${labelFilter(homeLabels(this.#home, app, env), status)}`,
    );
    const owned = new Set((await this.#store.instances.list()).map((v) => `${this.#home}:${v.id}`));
    for (const c of list) {
      if (owned.has(c.Labels['berth.instance'] ?? '')) continue;
      const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
      try {
        await engine.call('DELETE', `/containers/${c.Id}?v=1`);
        out.containers.push(name);
      } catch (err) {
        if (!(err instanceof EngineError && err.status === 404)) out.kept.push(`container ${name}: ${describe(err)}`);
      }
    }
  }

  /**
   * The Swarm services of this home's app environments (none unless the engine is a swarm manager); with `onlyGone`,
   * of those the store no longer has. Returns once their tasks have left this node (at most 30 s), so their
   * images and networks can go next.
   */
  async #removeServices(engine: ContainerEngine, { app, env, onlyGone }: Scope, out: Removed): Promise<void> {
    const services = new SwarmServices(engine);
    let list: SwarmService[];
    try {
      list = await services.list({
        'berth.home': this.#home,
        ...(app !== undefined ? { 'berth.app': app } : {}),
        ...(env !== undefined ? { 'berth.env': env } : {}),
      });
    } catch (err) {
      // Not a swarm manager (503), or an engine without Swarm's API: no services to remove.
      if (err instanceof EngineError && [404, 501, 503].includes(err.status)) return;
      throw err;
    }
    const removed: string[] = [];
    for (const s of list) {
      const remove = async () => {
        try {
          if (!(await services.remove(s.ID))) return; // gone meanwhile
          removed.push(s.ID);
          out.services.push(s.Spec.Name);
        } catch (err) {
          out.kept.push(`service ${s.Spec.Name}: ${describe(err)}`);
        }
      };
      const a = s.Spec.Labels['berth.app'] ?? '';
      const e = s.Spec.Labels['berth.env'] ?? '';
      if (onlyGone) await this.#ifGone(a, e, remove);
      else await remove();
    }
    // Their tasks stop on every node; here, their containers must be gone before the images and the network can go.
    const deadline = Date.now() + 30_000;
    for (const id of removed) {
      const filter = labelFilter([`com.docker.swarm.service.id=${id}`]);
      while (Date.now() < deadline && (await engine.call<unknown[]>('GET', `/containers/json?all=1&${filter}`)).length)
        await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * Runs `action` if the store no longer has the app environment: checked and done under its lock, since a deployment
   * may be making it anew (without the labels that name one, at once).
   */
  async #ifGone(app: string, env: string, action: () => Promise<void>): Promise<void> {
    const gone = async () => {
      if ((await this.#store.apps.environments({ app, env })).length === 0) await action();
    };
    if (app === '' || env === '') return gone();
    await this.#locks.run(app, env, { wait: true, what: 'berth images prune' }, gone);
  }

  /** The networks of this home's app environments; with `onlyGone`, of those the store no longer has. */
  async #removeNetworks(engine: ContainerEngine, { app, env, onlyGone }: Scope, out: Removed): Promise<void> {
    const list = await engine.call<{ Id: string; Name: string; Labels: Record<string, string> | null }[]>(
      'GET',
      `/networks?${labelFilter(homeLabels(this.#home, app, env))}`,
    );
    for (const n of list) {
      const remove = async () => {
        try {
          await engine.call('DELETE', `/networks/${n.Id}`);
          out.networks.push(n.Name);
        } catch (err) {
          if (!(err instanceof EngineError && err.status === 404)) out.kept.push(`network ${n.Name}: ${describe(err)}`);
        }
      };
      if (onlyGone) await this.#ifGone(n.Labels?.['berth.app'] ?? '', n.Labels?.['berth.env'] ?? '', remove);
      else await remove();
    }
  }
}
