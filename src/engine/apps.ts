import { rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadManifest } from '../config/manifest.js';
import type { Manifest, ServiceSpec } from '../config/manifest-types.js';
import { BerthError, describe } from '../core/errors.js';
import { dependencyWaves } from '../core/waves.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { Store } from '../store/store.js';
import type { HomeLayout } from '../system/paths.js';
import type { InstanceManager } from './instance-manager.js';
import { KeyedLock } from './keyed-lock.js';
import type { PortAllocator } from './port-allocator.js';
import { instanceStatus, type InstanceStatus } from './status.js';
import { registerApp, type Registration } from './register.js';
import { assertRoutesFree } from './route-sync.js';

export const DEFAULT_ENV = 'production';

export interface UpResult {
  readonly app: string;
  readonly env: string;
  readonly created: boolean;
  readonly started: string[];
  readonly restarted: string[];
  readonly removed: string[];
  readonly instances: InstanceStatus[];
}

export type Action = 'start' | 'stop' | 'restart';

/** App-level operations: the use cases behind the CLI's commands. */
export class Apps {
  readonly #store: Store;
  readonly #layout: HomeLayout;
  readonly #instances: InstanceManager;
  readonly #ports: PortAllocator;
  readonly #log: Logger;
  readonly #routesChanged: () => Promise<void>;
  readonly #lock = new KeyedLock<string>();

  constructor(deps: { store: Store; layout: HomeLayout; instances: InstanceManager; ports: PortAllocator; log: Logger; routesChanged: () => Promise<void> }) {
    this.#store = deps.store;
    this.#layout = deps.layout;
    this.#instances = deps.instances;
    this.#ports = deps.ports;
    this.#log = deps.log;
    this.#routesChanged = deps.routesChanged;
  }

  /**
   * Registers the app of `dir` and makes every service run. Validation, pre-flight checks
   * and port leases happen before anything starts; if the app is new and a start fails,
   * everything of it is undone and the store holds nothing of it.
   */
  async up(dir: string): Promise<UpResult> {
    const { manifest, file, dir: sourceDir } = await loadManifest(dir);
    return this.#lock.run(manifest.app, async () => {
      await assertRoutesFree(this.#store, manifest.app, DEFAULT_ENV, manifest.services);
      const reg = await registerApp({ store: this.#store, ports: this.#ports, manifest, sourceDir, manifestFile: file, env: DEFAULT_ENV });
      try {
        for (const v of await this.#store.instances.list({ app: manifest.app })) this.#instances.preflight(v);
        await this.#converge(manifest, reg);
        await this.#routesChanged();
      } catch (err) {
        if (reg.created) await this.#undoNewApp(manifest.app, err);
        await this.#routesChanged();
        throw err;
      }
      await this.#event(manifest.app, 'app.up', `up from ${sourceDir}`);
      return {
        app: manifest.app,
        env: DEFAULT_ENV,
        created: reg.created,
        started: reg.added,
        restarted: reg.changed,
        removed: reg.removedServices,
        instances: await this.ps({ app: manifest.app }),
      };
    });
  }

  async #converge(manifest: Manifest, reg: Registration): Promise<void> {
    for (const id of reg.removedInstances) await this.#instances.remove(id);
    await this.#store.write(async (r) => {
      for (const id of reg.removedServiceIds) await r.apps.deleteService(id);
    });
    const waves = dependencyWaves(manifest.services.map((s) => ({ name: s.name, dependsOn: s.dependsOn })));
    if (!waves.ok) throw new BerthError('invalid', 'dependency_cycle', `dependency cycle: ${waves.cycle.join(' -> ')}`);
    const all = await this.#store.instances.list({ app: manifest.app, env: DEFAULT_ENV });
    // Wave by wave: a service starts only when everything it depends on is healthy.
    for (const wave of waves.waves) {
      const members = all.filter((v) => wave.includes(v.service));
      await Promise.all(
        members.map(async (v) => {
          if (reg.changed.includes(v.service)) await this.#instances.stop(v.id);
          await this.#instances.start(v.id);
          const spec = JSON.parse(v.spec) as ServiceSpec;
          await this.#instances.waitReady(v.id, spec.health.startTimeoutMs + 1000);
        }),
      );
    }
  }

  async #undoNewApp(app: string, cause: unknown): Promise<void> {
    this.#log.warn({ app, err: describe(cause) }, 'up failed; undoing the new app');
    await this.#removeEverything(app, false);
  }

  /** Starts, stops or restarts the instances of an app, or of one service of it. */
  async control(app: string, action: Action, service?: string): Promise<InstanceStatus[]> {
    await this.#requireApp(app);
    return this.#lock.run(app, async () => {
      const targets = await this.#targets(app, service);
      const ordered = action === 'stop' ? await this.#reverseWaves(app, targets) : await this.#waves(app, targets);
      for (const wave of ordered) {
        await Promise.all(
          wave.map(async (v) => {
            if (action !== 'start') await this.#instances.stop(v.id);
            if (action === 'stop') return;
            await this.#instances.start(v.id);
            await this.#instances.waitReady(v.id, (JSON.parse(v.spec) as ServiceSpec).health.startTimeoutMs + 1000);
          }),
        );
      }
      await this.#event(app, `app.${action}`, `${action} ${service ?? 'all services'}`);
      return this.ps({ app, service });
    });
  }

  /** Stops everything of the app, frees its leases and forgets it; `purge` also deletes its data. */
  async rm(app: string, purge: boolean): Promise<{ app: string; purged: boolean }> {
    await this.#requireApp(app);
    return this.#lock.run(app, async () => {
      await this.#removeEverything(app, purge);
      await this.#routesChanged();
      await this.#event(app, 'app.rm', purge ? 'removed with its data' : 'removed; data kept');
      return { app, purged: purge };
    });
  }

  async #removeEverything(app: string, purge: boolean): Promise<void> {
    const all = await this.#store.instances.list({ app });
    for (const wave of await this.#reverseWaves(app, all)) await Promise.all(wave.map((v) => this.#instances.remove(v.id)));
    const row = await this.#store.apps.find(app);
    if (row) await this.#store.write((r) => r.apps.delete(row.id));
    rmSync(this.#layout.appLogRoot(app), { recursive: true, force: true });
    if (purge) rmSync(this.#layout.appDataRoot(app), { recursive: true, force: true });
  }

  async ps(filter: { app?: string | undefined; service?: string | undefined } = {}): Promise<InstanceStatus[]> {
    if (filter.app !== undefined) await this.#requireApp(filter.app);
    const now = Date.now();
    return (await this.#store.instances.list(filter)).map((v) => instanceStatus(v, this.#instances.logFile(v), now));
  }

  async #targets(app: string, service: string | undefined): Promise<InstanceView[]> {
    const all = await this.#store.instances.list({ app, service });
    if (service !== undefined && all.length === 0) {
      const names = [...new Set((await this.#store.instances.list({ app })).map((v) => v.service))];
      throw new BerthError('not_found', 'service_not_found', `app "${app}" has no service "${service}"`, { hint: `its services: ${names.join(', ')}` });
    }
    return all;
  }

  async #waves(app: string, targets: InstanceView[]): Promise<InstanceView[][]> {
    const specs = new Map(targets.map((v) => [v.service, JSON.parse(v.spec) as ServiceSpec]));
    const w = dependencyWaves([...specs.values()].map((s) => ({ name: s.name, dependsOn: s.dependsOn })));
    const order = w.ok ? w.waves : [[...specs.keys()]];
    return order.map((names) => targets.filter((v) => names.includes(v.service)));
  }

  async #reverseWaves(app: string, targets: InstanceView[]): Promise<InstanceView[][]> {
    return (await this.#waves(app, targets)).reverse();
  }

  async #requireApp(app: string): Promise<void> {
    if (await this.#store.apps.find(app)) return;
    const known = await this.#store.apps.names();
    throw new BerthError('not_found', 'app_not_found', `no app named "${app}"`, {
      hint: known.length > 0 ? `known apps: ${known.join(', ')}` : 'no apps yet: run `berth up <dir>` first',
    });
  }

  async #event(app: string, kind: string, message: string): Promise<void> {
    await this.#store.events.append({ at: Date.now(), app, environment: DEFAULT_ENV, service: null, kind, message });
  }
}
