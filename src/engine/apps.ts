import path from 'node:path';
import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import { dependencyWaves } from '../core/waves.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { Store } from '../store/store.js';
import type { HomeLayout } from '../system/paths.js';
import type { InstanceManager } from './instance-manager.js';
import type { AppUsers } from './app-users.js';
import type { EnvironmentLocks } from './environment-locks.js';
import { checkPortBeforeStart, swapInstance, swappable, type SwapDeps } from './instance-swap.js';
import { instanceStatus, staticStatus } from './status.js';
import { removeTree } from '../system/safe-tree.js';
import { storedManifest } from '../config/stored-manifest.js';
import type { InstanceStatus } from '../core/results.js';
import type { SwarmTasks } from './swarm-tasks.js';
import { compareText } from '../core/names.js';

export const DEFAULT_ENV = 'production';

export type Action = 'start' | 'stop' | 'restart';

/** Instances grouped in dependency waves of their services (one wave when the graph has a cycle). */
export function instanceWaves(targets: readonly InstanceView[]): InstanceView[][] {
  const specs = new Map(targets.map((v) => [v.service, JSON.parse(v.spec) as ServiceSpec]));
  const w = dependencyWaves([...specs.values()].map((s) => ({ name: s.name, dependsOn: s.dependsOn })));
  const order = w.ok ? w.waves : [[...specs.keys()]];
  return order.map((names) => targets.filter((v) => names.includes(v.service)));
}

/** The `cron:` runs of environments being removed (see CronScheduler). */
export interface CronRuns {
  end(envIds: readonly number[], why: string): Promise<void>;
  reopen(envIds: readonly number[]): void;
}

type ImageForget = { forget(app: string, env?: string): Promise<void> };

/** Which instances `ps` lists: an app's, an environment's, a service's; `orgIds` limits them to those organisations. */
interface PsFilter {
  app?: string | undefined;
  service?: string | undefined;
  env?: string | undefined;
  orgIds?: readonly number[] | undefined;
}

/** App-level operations besides deploying: start/stop/restart, rm, ps. */
export class Apps {
  readonly #store: Store;
  readonly #layout: HomeLayout;
  readonly #instances: InstanceManager;
  readonly #routesChanged: () => Promise<void>;
  readonly #locks: EnvironmentLocks;
  readonly #swap: SwapDeps;
  readonly #users: AppUsers | undefined;
  readonly #cron: CronRuns | undefined;
  readonly #images: ImageForget | undefined;
  /** With host setting `scheduler: swarm`: the swarm's tasks, listed with the instances, and their logs. */
  readonly swarm: SwarmTasks | undefined;

  constructor(
    deps: SwapDeps & {
      layout: HomeLayout;
      /** The deployer's per-environment locks: nothing here acts while a deployment of the environment runs. */
      locks: EnvironmentLocks;
      users?: AppUsers;
      /** Ends the app's running `cron:` jobs when it is removed. */
      cron?: CronRuns;
      /** Removes the app's images, stopped containers and networks from the container engine. */
      images?: ImageForget;
      swarm?: SwarmTasks | undefined;
    },
  ) {
    this.swarm = deps.swarm;
    this.#images = deps.images;
    this.#users = deps.users;
    this.#cron = deps.cron;
    this.#store = deps.store;
    this.#layout = deps.layout;
    this.#instances = deps.instances;
    this.#routesChanged = deps.routesChanged;
    this.#locks = deps.locks;
    this.#swap = deps;
  }

  /** Starts, stops or restarts the current release's instances of an app in one environment, or of one service. */
  async control(app: string, action: Action, service?: string, env = DEFAULT_ENV): Promise<InstanceStatus[]> {
    await this.requireApp(app);
    if ((await this.#store.apps.environments({ app, env })).length === 0) {
      const names = (await this.#store.apps.environments({ app })).map((e) => e.name);
      throw new BerthError('not_found', 'environment_not_found', `app "${app}" has no environment "${env}"`, {
        hint: `its environments: ${names.join(', ') || 'none'} (choose one with --env)`,
      });
    }
    // Waits for a deployment of the environment: it would replace what this starts or stops.
    return this.#locks.run(app, env, { wait: true, what: `berth ${action} ${app}` }, async () => {
      const targets = await this.#targets(app, env, service);
      const ordered = instanceWaves(targets);
      if (action === 'stop') ordered.reverse();
      for (const wave of ordered) await Promise.all(wave.map((v) => this.#control(v, action)));
      await this.#routesChanged(); // the command returns when the proxy routes to what it started
      await this.#event(app, env, `app.${action}`, `${action} ${service ?? 'all services'}`);
      return this.ps({ app, service, env });
    });
  }

  async #control(v: InstanceView, action: Action): Promise<void> {
    if (action === 'restart' && swappable(v)) return swapInstance(this.#swap, v);
    if (action !== 'start') await this.#instances.stop(v.id);
    if (action === 'stop') return;
    await checkPortBeforeStart(this.#swap, (await this.#store.instances.get(v.id)) ?? v);
    await this.#instances.start(v.id);
    await this.#instances.waitReady(v.id, (JSON.parse(v.spec) as ServiceSpec).health.startTimeoutMs + 1000);
  }

  /**
   * Stops everything of the app, frees its leases and forgets it; `purge` also deletes its data.
   * Holds every environment's lock: a deployment running meanwhile is named (or, with `wait`, waited for).
   */
  async rm(app: string, purge: boolean, wait = false): Promise<{ app: string; purged: boolean }> {
    await this.requireApp(app);
    const envs = await this.#envNames(app);
    return this.#locks.runAll(app, envs, { wait, what: `berth rm ${app}` }, async () => {
      // An environment made meanwhile (a preview's first deploy) is waited for too.
      const more = (await this.#envNames(app)).filter((e) => !envs.includes(e));
      if (more.length === 0) return this.#remove(app, purge, envs);
      return this.#locks.runAll(app, more, { wait: true, what: `berth rm ${app}` }, () =>
        this.#remove(app, purge, [...envs, ...more]),
      );
    });
  }

  async #envNames(app: string): Promise<string[]> {
    return (await this.#store.apps.environments({ app })).map((e) => e.name);
  }

  async #remove(app: string, purge: boolean, envs: readonly string[]): Promise<{ app: string; purged: boolean }> {
    await this.requireApp(app); // a failed first deploy it waited for may have removed it
    const envIds = (await this.#store.apps.environments({ app })).map((e) => e.id);
    await this.#cron?.end(envIds, `berth rm ${app}`);
    const all = await this.#store.instances.list({ app });
    for (const wave of instanceWaves(all).reverse()) await Promise.all(wave.map((v) => this.#instances.remove(v.id)));
    const row = await this.#store.apps.find(app);
    if (row) await this.#store.write((r) => r.apps.delete(row.id));
    await this.#routesChanged();
    await this.#images?.forget(app);
    removeTree(this.#layout.appLogRoot(app));
    await this.#store.attempts.forget(app); // its logs are gone: nothing can quote a stale line under a reused number
    removeTree(path.join(this.#layout.root, 'releases', app));
    if (purge) {
      this.#users?.reclaim(this.#layout.appDataRoot(app));
      removeTree(this.#layout.appDataRoot(app));
    }
    // Its user goes when nothing of the app is left; kept data stays owned by its (then unnamed) uid until purged.
    if (purge) {
      this.#users?.reclaim(path.join(this.#layout.root, 'homes', app));
      removeTree(path.join(this.#layout.root, 'homes', app));
      await this.#users?.remove(app, envs);
    }
    await this.#event(app, null, 'app.rm', purge ? 'removed with its data' : 'removed; data kept');
    return { app, purged: purge };
  }

  /** Instances (a swarm's tasks among them); `orgIds` limits them to apps of those organisations (others are unknown). */
  async ps(filter: PsFilter = {}): Promise<InstanceStatus[]> {
    if (filter.app !== undefined) await this.requireApp(filter.app, filter.orgIds);
    const now = Date.now();
    const running = (await this.#store.instances.list(filter)).map((v) =>
      instanceStatus(v, () => this.#instances.logFile(v), now),
    );
    const serving = await this.#serving(filter);
    const tasks = this.swarm
      ? await this.swarm.status(filter, new Map(serving.map((s) => [`${s.app}/${s.env}`, s.release?.number ?? null])))
      : [];
    // Stable: instances keep their order; an environment's swarm tasks and static services follow its instances.
    return [...running, ...tasks, ...staticServices(serving, filter.service)].sort(
      (a, b) => compareText(a.app, b.app) || compareText(a.env, b.env),
    );
  }

  /** The environments `filter` names, each with the release serving now (none before its first deploy). */
  async #serving(filter: PsFilter): Promise<Serving[]> {
    const visible = filter.orgIds === undefined ? undefined : new Set(await this.#store.apps.names(filter.orgIds));
    const out: Serving[] = [];
    for (const e of await this.#store.apps.environments({ app: filter.app, env: filter.env })) {
      if (visible && !visible.has(e.app)) continue;
      const release = e.currentReleaseId === null ? undefined : await this.#store.releases.get(e.currentReleaseId);
      out.push({ app: e.app, env: e.name, release });
    }
    return out;
  }

  async #targets(app: string, env: string, service: string | undefined): Promise<InstanceView[]> {
    const all = (await this.#store.instances.list({ app, env })).filter((v) => v.current);
    const targets = service === undefined ? all : all.filter((v) => v.service === service);
    if (service !== undefined && targets.length === 0) {
      throw new BerthError('not_found', 'service_not_found', `app "${app}" has no service "${service}"`, {
        hint: `its services: ${[...new Set(all.map((v) => v.service))].join(', ')}`,
      });
    }
    return targets;
  }

  async requireApp(app: string, orgIds?: readonly number[]): Promise<void> {
    const row = await this.#store.apps.find(app);
    if (row && (orgIds === undefined || orgIds.includes(row.orgId))) return;
    const known = await this.#store.apps.names(orgIds);
    throw new BerthError('not_found', 'app_not_found', `no app named "${app}"`, {
      hint: known.length > 0 ? `known apps: ${known.join(', ')}` : 'no apps yet: run `berth up <dir>` first',
    });
  }

  async #event(app: string, env: string | null, kind: string, message: string): Promise<void> {
    await this.#store.events.append({ at: Date.now(), app, environment: env, service: null, kind, message });
  }
}

interface Serving {
  readonly app: string;
  readonly env: string;
  readonly release: { readonly number: number; readonly manifest: string; readonly createdAt: number } | undefined;
}

/** Static services of the releases serving now: they have no instance, and are listed all the same. */
function staticServices(serving: readonly Serving[], service: string | undefined): InstanceStatus[] {
  const rows: InstanceStatus[] = [];
  for (const { app, env, release } of serving) {
    // Parsing a 1,000-service manifest for none is most of what this costs: look first.
    if (!release || !release.manifest.includes('"static":{')) continue;
    for (const spec of storedManifest(release.manifest).services)
      if (spec.static && (service === undefined || spec.name === service))
        rows.push(staticStatus(app, env, spec.name, release.number, release.createdAt));
  }
  return rows;
}
