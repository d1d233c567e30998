import path from 'node:path';
import type { Logger } from 'pino';
import type { AppUsers } from './app-users.js';
import { BerthError } from '../core/errors.js';
import { assertTransition, type InstanceState } from '../core/instance-state.js';
import { DEFAULT_RESTART, type RestartTuning } from '../core/restart-policy.js';
import type { RotationOptions } from '../runtime/log-writer.js';
import type { ProcessRef } from '../runtime/process-runner.js';
import type { ChildExit } from '../runtime/spawner.js';
import type { InstancePatch, InstanceView } from '../store/instances-repo.js';
import type { Store } from '../store/store.js';
import type { HomeLayout } from '../system/paths.js';
import type { HealthWatch } from './health-watch.js';
import { KeyedLock } from './keyed-lock.js';
import { baseEnv } from './launch-env.js';
import { InstanceLimits } from './instance-limits.js';
import { ContainerInstances, runsInContainer } from './container-instances.js';
import type { ContainerRunner } from '../runtime/container-runner.js';
import { stopProcesses } from '../runtime/process-runner.js';
import type { ServiceSpec } from '../config/manifest-types.js';
import { DatabaseInstances } from './databases/database-instances.js';
import { isDatabase } from './databases/connection.js';

/** The daemon's live knowledge of one instance's process. */
export interface Handle {
  ref: ProcessRef;
  /** Set when this daemon spawned it; adopted processes are watched by polling /proc. */
  child: ChildExit | undefined;
  startedAt: number;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  health: HealthWatch | undefined;
  /** Set when we kill it ourselves (unhealthy): its exit is not news. */
  retired: boolean;
}

export type StateListener = (v: InstanceView, from: InstanceState, to: InstanceState) => void;

export interface InstanceDeps {
  store: Store;
  layout: HomeLayout;
  log: Logger;
  markerPrefix: string;
  /** This host's name in port leases. */
  host: string;
  tuning?: RestartTuning;
  secretEnv?: (app: string, env: string) => Promise<Record<string, string>>;
  users?: AppUsers;
  /** PATH of every instance (host setting `app_path`); default the system's standard PATH. */
  appPath?: string;
  /** Each instance's log budget (host settings `log_max_bytes`, `log_keep`). */
  rotation?: RotationOptions;
  /** Runs container services; undefined on a host without a container engine. */
  containers?: ContainerRunner | undefined;
  /** An environment's own secret, made when missing (Secrets.ensure): a managed database's password. */
  databaseSecret?: (app: string, env: string, name: string, make: () => string) => Promise<string>;
}

/**
 * What the parts of the instance manager share (spawns, exits, health, adoption): the
 * dependencies, the live handles, the per-instance lock, and `transition`, the one place an
 * instance's state changes.
 */
export class InstanceCore {
  readonly store: Store;
  readonly users: AppUsers | undefined;
  readonly secretEnv: ((app: string, env: string) => Promise<Record<string, string>>) | undefined;
  readonly layout: HomeLayout;
  readonly log: Logger;
  readonly tuning: RestartTuning;
  readonly markerPrefix: string;
  readonly host: string;
  readonly handles = new Map<number, Handle>();
  readonly lock = new KeyedLock<number>();
  readonly listeners: StateListener[] = [];
  /** Listeners to one instance (a deploy waiting for each of 1,000): a change is told to its own, not to all. */
  readonly watchers = new Map<number, Set<StateListener>>();
  /** Per instance spawned by this daemon: settles when its log writer has written its last output. */
  readonly logged = new Map<number, Promise<void>>();
  readonly base: { PATH: string; HOME: string };
  readonly rotation: RotationOptions | undefined;
  /** The cgroups of instances with `resources`. */
  readonly limits: InstanceLimits;
  /** Instances of container services (`image:`): their launch, stop, probe and adoption. */
  readonly containers: ContainerInstances;
  /** Instances of managed databases (`postgres:`, `redis:`): their preparation, probe and stop signal. */
  readonly databases: DatabaseInstances;

  constructor(deps: InstanceDeps) {
    this.rotation = deps.rotation;
    this.base = baseEnv(deps.appPath);
    this.secretEnv = deps.secretEnv;
    this.users = deps.users;
    this.store = deps.store;
    this.layout = deps.layout;
    this.log = deps.log;
    this.markerPrefix = deps.markerPrefix;
    this.host = deps.host;
    this.tuning = deps.tuning ?? DEFAULT_RESTART;
    this.limits = new InstanceLimits(`berth-${deps.markerPrefix}`, deps.log);
    this.databases = new DatabaseInstances({
      store: deps.store,
      layout: deps.layout,
      users: deps.users,
      secret: deps.databaseSecret,
      runner: deps.containers,
      home: deps.markerPrefix,
    });
    this.containers = new ContainerInstances({
      runner: deps.containers,
      rotation: deps.rotation,
      marker: (id) => this.marker(id),
      log: deps.log,
    });
  }

  /** Stops what runs of an instance: its container, or its processes (see stopProcesses). */
  halt(
    id: number,
    spec: ServiceSpec,
    ref: ProcessRef | null,
    group?: number | null,
  ): Promise<'none' | 'terminated' | 'killed'> {
    // A container (a database's too: the engine sends its StopSignal, SIGINT for PostgreSQL; SIGKILL only after stop_timeout).
    if (runsInContainer(spec)) return this.containers.stop(id, spec.stopTimeoutMs);
    // A database gets its fast shutdown, to the server alone (it stops its own processes); SIGKILL only after stop_timeout.
    if (isDatabase(spec))
      return stopProcesses(ref, this.marker(id), spec.stopTimeoutMs, group, {
        signal: this.databases.stopSignal(spec),
        leaderOnly: true,
      });
    return group === undefined
      ? stopProcesses(ref, this.marker(id), spec.stopTimeoutMs)
      : stopProcesses(ref, this.marker(id), spec.stopTimeoutMs, group);
  }

  marker(id: number): string {
    return `${this.markerPrefix}:${id}`;
  }

  /**
   * One log per instance: `<service>.<idx>.r<release>.log`, so two releases never share one; a
   * managed database, one instance kept across releases, has one log: `<service>.<idx>.log`.
   */
  logFile(v: Pick<InstanceView, 'app' | 'env' | 'service' | 'idx' | 'release'> & { readonly spec?: string }): string {
    const kept =
      v.spec !== undefined && v.spec.includes('"database":{') && isDatabase(JSON.parse(v.spec) as ServiceSpec);
    return path.join(this.layout.logDir(v.app, v.env), `${v.service}.${v.idx}${kept ? '' : `.r${v.release}`}.log`);
  }

  async get(id: number): Promise<InstanceView> {
    const v = await this.store.instances.get(id);
    if (!v) throw new BerthError('not_found', 'instance_not_found', `instance ${id} does not exist`);
    return v;
  }

  clearTimer(id: number): void {
    const h = this.handles.get(id);
    if (h?.timer) clearTimeout(h.timer);
    if (h) h.timer = undefined;
  }

  /** The one place an instance's state changes. */
  async transition(v: InstanceView, to: InstanceState, patch: InstancePatch = {}, why?: string): Promise<void> {
    const from = v.state as InstanceState;
    assertTransition(from, to);
    const now = Date.now();
    // Names the release (`api[0]@r4`): during a deploy, old and new instances share their index.
    const message = `${v.service}[${v.idx}]@r${v.release} ${from} -> ${to}${why ? `: ${why}` : ''}`;
    // The change and its event in one commit, shared with the other instances' changes of this turn.
    await this.store.batched(async (r) => {
      await r.instances.update(v.id, { ...patch, state: to, state_since: now });
      await r.events.append({
        at: now,
        app: v.app,
        environment: v.env,
        service: v.service,
        kind: 'instance.state',
        message,
      });
    });
    this.log.info(
      { app: v.app, env: v.env, service: v.service, idx: v.idx, release: v.release, from, to, why },
      'instance state',
    );
    const after = { ...v, ...patch, state: to } as InstanceView;
    for (const l of [...this.listeners]) l(after, from, to);
    const own = this.watchers.get(v.id);
    if (own) for (const l of [...own]) l(after, from, to);
  }

  /** Tells `listener` of the changes of instance `id` until the returned function is called. */
  watch(id: number, listener: StateListener): () => void {
    let own = this.watchers.get(id);
    if (!own) this.watchers.set(id, (own = new Set()));
    own.add(listener);
    return () => {
      own.delete(listener);
      if (own.size === 0 && this.watchers.get(id) === own) this.watchers.delete(id);
    };
  }
}
