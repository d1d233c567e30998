import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ServiceSpec } from '../config/manifest-types.js';
import type { AppUsers } from './app-users.js';
import { BerthError, describe } from '../core/errors.js';
import { assertTransition, holdsProcess, type InstanceState } from '../core/instance-state.js';
import { decideAfterExit, DEFAULT_RESTART, type RestartTuning } from '../core/restart-policy.js';
import { probe } from '../health/probes.js';
import type { RotationOptions } from '../runtime/log-writer.js';
import { launch, stopProcesses, type ProcessRef } from '../runtime/process-runner.js';
import type { ChildExit } from '../runtime/spawner.js';
import { instanceProcesses } from '../runtime/process-table.js';
import type { InstancePatch, InstanceView } from '../store/instances-repo.js';
import type { Store } from '../store/store.js';
import type { HomeLayout } from '../system/paths.js';
import { isSameProcessAlive, signalReaches } from '../system/proc.js';
import { HealthWatch } from './health-watch.js';
import { waitReady } from './instance-readiness.js';
import { KeyedLock } from './keyed-lock.js';
import { Limiter } from '../core/limiter.js';
import { assertRunnable, baseEnv, explainSpawnError, launchEnv, serviceCwd } from './launch-env.js';
import type { LastExit } from '../core/results.js';
import { InstanceLimits } from './instance-limits.js';
import { formatSize } from '../config/size.js';
import { ContainerInstances } from './container-instances.js';
import type { ContainerRunner } from '../runtime/container-runner.js';

/**
 * Instances starting at once (the rest wait). A spawn is synchronous (fork and exec, ~7 ms here), so
 * more at once buys little; what wakes together runs in one turn of the event loop, which other
 * requests wait for: 4 keeps a turn near 60 ms during a 1,000-service wave.
 */
const SPAWN_CONCURRENCY = 4;

/** The daemon's live knowledge of one instance's process. */
interface Handle {
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

/**
 * Supervises instances: spawns, probes, restarts by policy, stops. The only place that
 * changes an instance's state, always along core/instance-state's table, one instance at
 * a time (per-instance lock), and every change lands in the store before it is acted on.
 */
export class InstanceManager {
  readonly #store: Store;
  readonly #users: AppUsers | undefined;
  readonly #secretEnv: ((app: string, env: string) => Promise<Record<string, string>>) | undefined;
  readonly #layout: HomeLayout;
  readonly #log: Logger;
  readonly #tuning: RestartTuning;
  readonly #markerPrefix: string;
  readonly #host: string;
  readonly #handles = new Map<number, Handle>();
  readonly #lock = new KeyedLock<number>();
  readonly #spawnSlots = new Limiter(SPAWN_CONCURRENCY);
  readonly #listeners: StateListener[] = [];
  /** Per instance spawned by this daemon: settles when its log writer has written its last output. */
  readonly #logged = new Map<number, Promise<void>>();
  readonly #base: { PATH: string; HOME: string };
  readonly #rotation: RotationOptions | undefined;
  /** The cgroups of instances with `resources`. */
  readonly #limits: InstanceLimits;
  /** Instances of container services (`image:`): their launch, stop, probe and adoption. */
  readonly #containers: ContainerInstances;

  constructor(deps: {
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
  }) {
    this.#rotation = deps.rotation;
    this.#base = baseEnv(deps.appPath);
    this.#secretEnv = deps.secretEnv;
    this.#users = deps.users;
    this.#store = deps.store;
    this.#layout = deps.layout;
    this.#log = deps.log;
    this.#markerPrefix = deps.markerPrefix;
    this.#host = deps.host;
    this.#tuning = deps.tuning ?? DEFAULT_RESTART;
    this.#limits = new InstanceLimits(`berth-${deps.markerPrefix}`, deps.log);
    this.#containers = new ContainerInstances({
      runner: deps.containers,
      rotation: deps.rotation,
      marker: (id) => this.marker(id),
    });
  }

  marker(id: number): string {
    return `${this.#markerPrefix}:${id}`;
  }

  /** One log per instance: `<service>.<idx>.r<release>.log`, so two releases never share one. */
  logFile(v: Pick<InstanceView, 'app' | 'env' | 'service' | 'idx' | 'release'>): string {
    return path.join(this.#layout.logDir(v.app, v.env), `${v.service}.${v.idx}.r${v.release}.log`);
  }

  onStateChange(listener: StateListener): void {
    this.#listeners.push(listener);
  }

  /** Checks that an instance could be launched (cwd, program) without launching it. */
  preflight(v: InstanceView): void {
    const spec = JSON.parse(v.spec) as ServiceSpec;
    if (spec.kind === 'container') return;
    const cwd = serviceCwd(v.rootDir, spec);
    assertRunnable(
      spec,
      cwd,
      launchEnv(spec, v.port, this.#layout.dataDir(v.app, v.env), this.marker(v.id), this.#base),
    );
  }

  /**
   * Makes the instance run (desired = running). Resolves once its process is spawned, or
   * adopted when the process it records still runs. A stop that was cut off (berthd killed
   * in it) is finished first, and a record whose process is gone is closed, so an instance
   * can always be started whatever state it was left in.
   */
  start(id: number): Promise<void> {
    return this.#lock.run(id, async () => {
      let v = await this.#get(id);
      await this.#store.instances.update(id, { desired: 'running' });
      v = { ...v, desired: 'running' };
      const h = this.#handles.get(id);
      if (holdsProcess(v.state) && v.state !== 'stopping') {
        if (h && isSameProcessAlive(h.ref.pid, h.ref.startTicks)) return;
        if (!h && v.pid !== null && v.startTicks !== null && isSameProcessAlive(v.pid, v.startTicks)) {
          this.#attach(v, { pid: v.pid, startTicks: v.startTicks });
          return;
        }
      }
      if (holdsProcess(v.state)) {
        await this.#stopLocked(v);
        v = { ...v, state: 'stopped', pid: null, startTicks: null };
      }
      this.#clearTimer(id);
      await this.#spawn(v, 0);
    });
  }

  /**
   * Resolves when the instance is healthy; rejects when it goes down instead (exit, never
   * ready within its start_timeout) with the reason and its last log lines.
   */
  waitReady(id: number, timeoutMs: number): Promise<void> {
    return waitReady(
      {
        get: (i) => this.#store.instances.get(i),
        subscribe: (listener) => {
          this.#listeners.push(listener);
          return () => {
            const at = this.#listeners.indexOf(listener);
            if (at >= 0) this.#listeners.splice(at, 1);
          };
        },
        logged: (i) => this.#logged.get(i),
        logFile: (v) => this.logFile(v),
        secretEnv: this.#secretEnv,
      },
      id,
      timeoutMs,
    );
  }

  /** Stops the instance's processes (desired = stopped). */
  stop(id: number): Promise<void> {
    return this.#lock.run(id, async () => {
      const v = await this.#get(id);
      await this.#store.instances.update(id, { desired: 'stopped' });
      await this.#stopLocked(v);
    });
  }

  /** Stops the instance and deletes it; its port lease goes with it. */
  remove(id: number): Promise<void> {
    return this.#lock.run(id, async () => {
      const v = await this.#store.instances.get(id);
      if (!v) return;
      await this.#store.instances.update(id, { desired: 'stopped' });
      await this.#stopLocked(v);
      await this.#store.instances.delete(id);
      this.#handles.delete(id);
      this.#logged.delete(id);
    });
  }

  async #stopLocked(v: InstanceView): Promise<void> {
    this.#clearTimer(v.id);
    const spec = JSON.parse(v.spec) as ServiceSpec;
    const h = this.#handles.get(v.id);
    h?.health?.stop();
    const ref = h?.ref ?? (v.pid !== null && v.startTicks !== null ? { pid: v.pid, startTicks: v.startTicks } : null);
    if (holdsProcess(v.state)) {
      if (v.state !== 'stopping') await this.#transition(v, 'stopping');
      const how = await this.#halt(v.id, spec, ref);
      this.#handles.delete(v.id);
      this.#limits.release(v, spec);
      await this.#transition(
        { ...v, state: 'stopping' },
        'stopped',
        { pid: null, start_ticks: null },
        how === 'killed' ? 'killed after stop timeout' : undefined,
      );
      return;
    }
    // Not supposed to hold a process, but leave nothing behind in any case.
    await this.#halt(v.id, spec, null);
    this.#handles.delete(v.id);
    this.#limits.release(v, spec);
    if (v.state !== 'stopped') await this.#transition(v, 'stopped', { pid: null, start_ticks: null });
  }

  /**
   * Starts the instance's process. At most SPAWN_CONCURRENCY start at once, whoever asks (a
   * 1,000-service wave, the adoption at boot, restarts): the rest queue, each in its own lock,
   * and each start waits for a turn of the event loop.
   */
  #spawn(v: InstanceView, restartsDelta: number): Promise<void> {
    return this.#spawnSlots.run(async () => {
      // A wave is one long chain of promises (the store answers at once, a spawn emits on the next
      // tick): without a turn of the event loop between spawns, no request (`berth ps`), timer or
      // exit event would be served until the last of 1,000 instances had started.
      await new Promise((r) => setImmediate(r));
      await this.#spawnNow(v, restartsDelta);
    });
  }

  async #spawnNow(v: InstanceView, restartsDelta: number): Promise<void> {
    const spec = JSON.parse(v.spec) as ServiceSpec;
    await this.#transition(v, 'starting', { pid: null, start_ticks: null, restarts: v.restarts + restartsDelta });
    const starting = { ...v, state: 'starting', restarts: v.restarts + restartsDelta };
    const port = v.port;
    const other =
      port === null ? undefined : await this.#store.write((r) => r.leases.claim(this.#host, port, v.id, Date.now()));
    if (other) {
      const why = `port ${port} is leased to ${other.app}/${other.env}/${other.service}`;
      await this.#transition(starting, 'failed', {
        last_exit: JSON.stringify({ code: null, signal: null, at: Date.now(), note: `could not start: ${why}` }),
      });
      throw new BerthError('conflict', 'port_taken', `starting ${v.app}/${v.service}[${v.idx}]: ${why}`, {
        hint: `see berth doctor; redeploy ${v.app} to give it a free port`,
      });
    }
    let launched;
    let cwd = v.rootDir;
    try {
      cwd = serviceCwd(v.rootDir, spec);
      const dataDir = this.#layout.dataDir(v.app, v.env);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const logFile = this.logFile(v);
      mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o750 });
      const ids = await this.#users?.ids(v.app, v.env);
      this.#users?.leaf(ids, dataDir, 0o700);
      this.#users?.rootDirs(ids, [path.dirname(logFile)]);
      // Secrets never override what Berth sets (their names exclude PORT, DATA_DIR and the marker).
      const env = {
        ...launchEnv(
          spec,
          v.port,
          dataDir,
          this.marker(v.id),
          this.#base,
          await this.#store.addresses.list({ releaseId: v.releaseId }),
        ),
        ...(ids && spec.env.HOME === undefined ? { HOME: this.#users?.home(v.app, v.env) as string } : {}),
        ...(await this.#secretEnv?.(v.app, v.env)),
      };
      if (spec.kind === 'container')
        launched = await this.#containers.launch(v, spec, { env, dataDir, logFile, uid: ids?.uid, gid: ids?.gid });
      else assertRunnable(spec, cwd, env);
      const cgroups = spec.kind === 'container' ? [] : this.#limits.join(v, spec);
      launched ??= await launch({
        cgroups,
        argv: spec.argv,
        cwd,
        env,
        logFile,
        rotation: this.#rotation,
        uid: ids?.uid,
        gid: ids?.gid,
      });
      this.#users?.ownFile(ids, logFile, 0o640);
      this.#logged.set(v.id, launched.logged);
    } catch (err) {
      const why = explainSpawnError(err, spec, cwd);
      await this.#transition(starting, 'failed', {
        last_exit: JSON.stringify({ code: null, signal: null, at: Date.now(), note: `could not start: ${why}` }),
      });
      throw new BerthError('failed', 'start_failed', `starting ${v.app}/${v.service}[${v.idx}]: ${why}`, {
        cause: err,
        hint: err instanceof BerthError && err.hint ? err.hint : `fix services.${v.service}.run in berth.yaml`,
      });
    }
    const prev = this.#handles.get(v.id);
    const handle: Handle = {
      ref: { pid: launched.pid, startTicks: launched.startTicks },
      child: launched.child,
      startedAt: Date.now(),
      failures: prev?.failures ?? 0,
      timer: undefined,
      health: undefined,
      retired: false,
    };
    this.#handles.set(v.id, handle);
    launched.child.once('exit', (code, signal) => void this.#onExit(v.id, handle.ref, code, signal));
    await this.#store.instances.update(v.id, {
      pid: launched.pid,
      start_ticks: launched.startTicks,
      started_at: handle.startedAt,
    });
    this.#watchHealth(v.id, v.port, handle, spec, 'starting');
  }

  /** An instance's port is fixed for its life (a deploy makes new instances): probes read no store. */
  #watchHealth(id: number, port: number | null, h: Handle, spec: ServiceSpec, phase: 'starting' | 'healthy'): void {
    const marker = this.marker(id);
    h.health?.stop();
    h.health = new HealthWatch({
      health: spec.health,
      phase,
      check: (starting) =>
        spec.kind === 'container'
          ? this.#containers.probe(id, spec, port, () => isSameProcessAlive(h.ref.pid, h.ref.startTicks))
          : probe(spec.health.probe, {
              port,
              leader: h.ref.pid,
              pids: () => instanceProcesses(h.ref, marker, 50).map((p) => p.pid),
              leaderAlive: () => isSameProcessAlive(h.ref.pid, h.ref.startTicks),
              verifyOwner: starting,
            }),
      onChange: (to, reason) =>
        this.#lock
          .run(id, () => this.#onHealth(id, h, to, reason))
          .catch((err) => this.#log.error({ err: describe(err), instance: id }, 'health change failed')),
    });
  }

  async #onHealth(id: number, h: Handle, to: 'healthy' | 'unhealthy', reason: string): Promise<void> {
    if (this.#handles.get(id) !== h || h.retired) return;
    const v = await this.#store.instances.get(id);
    if (!v || v.state === 'stopping' || !holdsProcess(v.state) || v.state === to) return;
    if (to === 'healthy') {
      await this.#transition(v, to);
      return;
    }
    await this.#transition(
      v,
      to,
      { last_exit: JSON.stringify({ code: null, signal: null, at: Date.now(), note: reason } satisfies LastExit) },
      reason,
    );
    const spec = JSON.parse(v.spec) as ServiceSpec;
    if (spec.restart === 'never' || v.desired !== 'running') return; // stays unhealthy; probes go on
    h.retired = true;
    h.health?.stop();
    await this.#halt(id, spec, h.ref);
    await this.#afterExit({ ...v, state: 'unhealthy' }, h, null, null, `restarted: ${reason}`);
  }

  /** Called when a process we watch is gone: decide, by policy, whether and when it restarts. */
  #onExit(id: number, ref: ProcessRef, code: number | null, signal: string | null, note?: string): Promise<void> {
    return this.#lock
      .run(id, async () => {
        const h = this.#handles.get(id);
        if (!h || h.retired || h.ref.pid !== ref.pid || h.ref.startTicks !== ref.startTicks) return; // stale: already handled
        const v = await this.#store.instances.get(id);
        if (!v || v.desired === 'stopped' || !holdsProcess(v.state) || v.state === 'stopping') return;
        h.health?.stop();
        await this.#afterExit(v, h, code, signal, note);
      })
      .catch((err) => this.#log.error({ err: describe(err), instance: id }, 'handling an exit failed'));
  }

  async #afterExit(
    v: InstanceView,
    h: Handle,
    code: number | null,
    signal: string | null,
    reason: string | undefined,
  ): Promise<void> {
    const spec = JSON.parse(v.spec) as ServiceSpec;
    // The leader is gone; children it left behind (workers holding the port) go too. The group of
    // a child whose exit event just came is checked with one system call; an adopted one's by a scan.
    await this.#halt(v.id, spec, null, h.child ? h.ref.pid : null);
    const oom = this.#limits.oomLimit(v, spec);
    this.#limits.release(v, spec);
    const note =
      oom === undefined
        ? reason
        : `oom: killed for memory over its ${formatSize(oom)} limit${reason ? `; ${reason}` : ''}`;
    const d = decideAfterExit(
      { policy: spec.restart, code, signal, uptimeMs: Date.now() - h.startedAt, recentFailures: h.failures },
      this.#tuning,
    );
    h.failures = d.failures;
    const lastExit: LastExit = {
      code,
      signal,
      at: Date.now(),
      ...(note ? { note } : {}),
      ...(oom !== undefined ? { oom: { limitBytes: oom } } : {}),
    };
    const patch: InstancePatch = { pid: null, start_ticks: null, last_exit: JSON.stringify(lastExit) };
    const how =
      note ?? (signal ? `killed by ${signal}` : code === null ? 'exited (status unknown)' : `exited with code ${code}`);
    if (!d.restart) {
      this.#handles.delete(v.id);
      await this.#transition(v, 'exited', patch, how);
      return;
    }
    await this.#transition(v, d.crashloop ? 'crashloop' : 'backoff', patch, `${how}; restart in ${d.delayMs} ms`);
    h.timer = setTimeout(() => void this.#restartAfterBackoff(v.id), d.delayMs);
  }

  #restartAfterBackoff(id: number): Promise<void> {
    return this.#lock
      .run(id, async () => {
        const v = await this.#store.instances.get(id);
        if (!v || v.desired !== 'running' || (v.state !== 'backoff' && v.state !== 'crashloop')) return;
        await this.#spawn(v, 1);
      })
      .catch((err) => this.#log.warn({ err: describe(err), instance: id }, 'restart failed'));
  }

  #clearTimer(id: number): void {
    const h = this.#handles.get(id);
    if (h?.timer) clearTimeout(h.timer);
    if (h) h.timer = undefined;
  }

  async #get(id: number): Promise<InstanceView> {
    const v = await this.#store.instances.get(id);
    if (!v) throw new BerthError('not_found', 'instance_not_found', `instance ${id} does not exist`);
    return v;
  }

  /** The one place an instance's state changes. */
  async #transition(v: InstanceView, to: InstanceState, patch: InstancePatch = {}, why?: string): Promise<void> {
    const from = v.state as InstanceState;
    assertTransition(from, to);
    const now = Date.now();
    await this.#store.instances.update(v.id, { ...patch, state: to, state_since: now });
    // Names the release (`api[0]@r4`): during a deploy, old and new instances share their index.
    const message = `${v.service}[${v.idx}]@r${v.release} ${from} -> ${to}${why ? `: ${why}` : ''}`;
    await this.#store.events.append({
      at: now,
      app: v.app,
      environment: v.env,
      service: v.service,
      kind: 'instance.state',
      message,
    });
    this.#log.info(
      { app: v.app, env: v.env, service: v.service, idx: v.idx, release: v.release, from, to, why },
      'instance state',
    );
    const after = { ...v, ...patch, state: to } as InstanceView;
    for (const l of [...this.#listeners]) l(after, from, to);
  }

  // --- adoption after a daemon restart -------------------------------------------------

  /**
   * At boot: adopt every live instance the store knows (same pid and start time), make sure
   * stopped ones left nothing behind, and restart the ones that should run but are dead.
   * `takeOver` sees those dead ones first, and the live ones, and returns the ids it starts
   * itself (a reboot's ordered start); the rest go by restart policy.
   */
  async adoptAll(
    findLeader: (marker: string) => ProcessRef | undefined,
    takeOver?: (dead: readonly InstanceView[], live: readonly InstanceView[]) => ReadonlySet<number>,
  ): Promise<void> {
    const dead: InstanceView[] = [];
    const all = await this.#store.instances.list();
    // Containers are found by their label (berth.instance), processes by their marker in /proc.
    const labelled = await this.#containers.live(all).catch((err: unknown) => {
      this.#log.warn({ err: describe(err) }, 'listing containers failed');
      return new Map<string, ProcessRef>();
    });
    const byMarker = findLeader;
    findLeader = (marker) => labelled.get(marker) ?? byMarker(marker);
    this.#limits.sweep(new Set(all.map((v) => v.id)));
    for (const v of all) {
      await this.#lock
        .run(v.id, () => this.#adopt(v, findLeader, dead))
        .catch((err) => this.#log.warn({ err: describe(err), instance: v.id }, 'adoption failed'));
    }
    const taken =
      takeOver?.(
        dead,
        all.filter((v) => this.#handles.has(v.id)),
      ) ?? new Set<number>();
    for (const v of dead) {
      if (taken.has(v.id)) continue;
      await this.#lock
        .run(v.id, () => this.#restartDead(v))
        .catch((err) => this.#log.warn({ err: describe(err), instance: v.id }, 'adoption failed'));
    }
  }

  async #adopt(
    v: InstanceView,
    findLeader: (marker: string) => ProcessRef | undefined,
    dead: InstanceView[],
  ): Promise<void> {
    if (this.#handles.has(v.id)) return; // already supervised (started again by the recovery of a deployment)
    const recorded =
      v.pid !== null && v.startTicks !== null && isSameProcessAlive(v.pid, v.startTicks)
        ? { pid: v.pid, startTicks: v.startTicks }
        : undefined;
    const live =
      recorded ?? (holdsProcess(v.state) || v.state === 'pending' ? findLeader(this.marker(v.id)) : undefined);
    if (v.desired === 'stopped') {
      await this.#stopLocked(v);
      return;
    }
    if (v.state === 'stopping') {
      // berthd died in a stop that a start followed (a deployment's undo): finish the stop, run it again.
      await this.#stopLocked(v);
      await this.#spawn({ ...v, state: 'stopped', pid: null, startTicks: null }, 1);
      return;
    }
    if (live) {
      if (v.state === 'pending') await this.#transition(v, 'starting', {}, 'adopted');
      this.#attach({ ...v, state: v.state === 'pending' ? 'starting' : v.state }, live);
      if (!recorded || v.state === 'pending')
        await this.#store.instances.update(v.id, {
          pid: live.pid,
          start_ticks: live.startTicks,
          started_at: v.startedAt ?? Date.now(),
        });
      return;
    }
    if (v.state === 'exited' || v.state === 'failed') return;
    if (holdsProcess(v.state) || v.state === 'backoff' || v.state === 'crashloop') dead.push(v);
    else await this.#spawn(v, v.state === 'pending' ? 0 : 1);
  }

  /** A process that should run died while the daemon was away: the usual exit path decides about its restart. */
  async #restartDead(v: InstanceView): Promise<void> {
    if (this.#handles.has(v.id)) return;
    if (!holdsProcess(v.state)) {
      await this.#spawn(v, 1);
      return;
    }
    const ref = { pid: v.pid ?? 0, startTicks: v.startTicks ?? '' };
    this.#handles.set(v.id, {
      ref,
      child: undefined,
      startedAt: v.startedAt ?? 0,
      failures: 0,
      timer: undefined,
      health: undefined,
      retired: false,
    });
    queueMicrotask(() => void this.#onExit(v.id, ref, null, null, 'died while berthd was not running'));
  }

  /** Supervises a live process this daemon did not spawn: probes it, and learns of its exit by polling. */
  #attach(v: InstanceView, live: ProcessRef): void {
    const h: Handle = {
      ref: live,
      child: undefined,
      startedAt: v.startedAt ?? Date.now(),
      failures: 0,
      timer: undefined,
      health: undefined,
      retired: false,
    };
    this.#handles.set(v.id, h);
    if ((JSON.parse(v.spec) as ServiceSpec).kind === 'container') void this.#followContainer(v, h);
    this.#watchHealth(
      v.id,
      v.port,
      h,
      JSON.parse(v.spec) as ServiceSpec,
      v.state === 'healthy' ? 'healthy' : 'starting',
    );
  }

  /** An adopted container: its exit comes from the engine (exit code included) and its output goes on to its log. */
  async #followContainer(v: InstanceView, h: Handle): Promise<void> {
    try {
      const c = await this.#containers.adopt(v, this.logFile(v), await this.#users?.ids(v.app, v.env));
      if (!c || this.#handles.get(v.id) !== h) return;
      h.child = c.child;
      this.#logged.set(v.id, c.logged);
      c.child.once('exit', (code, signal) => void this.#onExit(v.id, h.ref, code, signal));
    } catch (err) {
      this.#log.warn({ err: describe(err), instance: v.id }, 'following an adopted container failed');
    }
  }

  /** Stops what runs of an instance: its container, or its processes (see stopProcesses). */
  #halt(
    id: number,
    spec: ServiceSpec,
    ref: ProcessRef | null,
    group?: number | null,
  ): Promise<'none' | 'terminated' | 'killed'> {
    if (spec.kind === 'container') return this.#containers.stop(id, spec.stopTimeoutMs);
    return group === undefined
      ? stopProcesses(ref, this.marker(id), spec.stopTimeoutMs)
      : stopProcesses(ref, this.marker(id), spec.stopTimeoutMs, group);
  }

  /**
   * Checks adopted processes (not our children, so no exit event) and reports the dead. Cheap
   * enough to run every second for thousands: kill(pid, 0) is one system call and opens no
   * file; `verify` (every few rounds) also reads /proc/<pid>/stat, for a zombie or a pid
   * reused by another process.
   */
  pollAdopted(verify: boolean): void {
    for (const [id, h] of this.#handles) {
      if (h.child !== undefined || h.timer !== undefined || h.retired) continue;
      if (signalReaches(h.ref.pid) && (!verify || isSameProcessAlive(h.ref.pid, h.ref.startTicks))) continue;
      void this.#onExit(id, h.ref, null, null, 'adopted process exited; its exit status is unknown');
    }
  }
}
