import type { ServiceSpec } from '../config/manifest-types.js';
import { holdsProcess } from '../core/instance-state.js';
import type { ProcessRef } from '../runtime/process-runner.js';
import type { InstanceView } from '../store/instances-repo.js';
import { isSameProcessAlive } from '../system/proc.js';
import { waitReady } from './instance-readiness.js';
import { assertRunnable, launchEnv, serviceCwd } from './launch-env.js';
import { InstanceAdoption } from './instance-adoption.js';
import { InstanceCore, type InstanceDeps, type StateListener } from './instance-core.js';
import { InstanceExits } from './instance-exits.js';
import { InstanceHealth } from './instance-health.js';
import { InstanceSpawns } from './instance-spawn.js';
import { runsInContainer } from './container-instances.js';
import type { LaunchMemo } from './launch-memo.js';
import { databaseBinaries } from '../system/database-binaries.js';
import type { DatabaseInstances } from './databases/database-instances.js';
import { depsEnv } from './deploy/deps-steps.js';

export type { StateListener } from './instance-core.js';

/**
 * Supervises instances: spawns, probes, restarts by policy, stops. The only place that
 * changes an instance's state, always along core/instance-state's table, one instance at
 * a time (per-instance lock), and every change lands in the store before it is acted on.
 * Its parts: instance-spawn (starting a process), instance-exits (stops, exits, restarts),
 * instance-health (probes' verdicts), instance-adoption (after a daemon restart), sharing
 * instance-core (state, lock, the one `transition`).
 */
export class InstanceManager {
  readonly #core: InstanceCore;
  readonly #spawns: InstanceSpawns;
  readonly #exits: InstanceExits;
  readonly #health: InstanceHealth;
  readonly #adoption: InstanceAdoption;

  constructor(deps: InstanceDeps) {
    this.#core = new InstanceCore(deps);
    this.#exits = new InstanceExits(this.#core, (v, restartsDelta) => this.#spawns.spawn(v, restartsDelta));
    this.#health = new InstanceHealth(this.#core, this.#exits);
    this.#spawns = new InstanceSpawns(this.#core, {
      watchHealth: (id, port, h, spec, phase) => this.#health.watch(id, port, h, spec, phase),
      onExit: (id, ref, code, signal) => this.#exits.onExit(id, ref, code, signal),
    });
    this.#adoption = new InstanceAdoption(this.#core, {
      spawns: this.#spawns,
      exits: this.#exits,
      health: this.#health,
    });
  }

  marker(id: number): string {
    return this.#core.marker(id);
  }

  /** The managed databases' side of instances (see engine/databases). */
  get databases(): DatabaseInstances {
    return this.#core.databases;
  }

  /** One log per instance: `<service>.<idx>.r<release>.log`, so two releases never share one. */
  logFile(v: Pick<InstanceView, 'app' | 'env' | 'service' | 'idx' | 'release'> & { readonly spec?: string }): string {
    return this.#core.logFile(v);
  }

  onStateChange(listener: StateListener): void {
    this.#core.listeners.push(listener);
  }

  /** Checks that an instance could be launched (cwd, program) without launching it. */
  preflight(v: InstanceView): void {
    const spec = JSON.parse(v.spec) as ServiceSpec;
    if (runsInContainer(spec)) return; // its image is the deploy's pull step's, and its engine the launch's
    if (spec.database) {
      databaseBinaries(spec.database, spec.name); // the host's programs, or an error naming the package
      return;
    }
    const cwd = serviceCwd(v.rootDir, spec);
    assertRunnable(
      spec,
      cwd,
      launchEnv(
        spec,
        v.port,
        this.#core.layout.dataDir(v.app, v.env),
        this.marker(v.id),
        depsEnv(this.#core.base, spec, cwd),
      ),
    );
  }

  /**
   * Makes the instance run (desired = running). Resolves once its process is spawned, or
   * adopted when the process it records still runs. A stop that was cut off (berthd killed
   * in it) is finished first, and a record whose process is gone is closed, so an instance
   * can always be started whatever state it was left in. The instances of one wave share
   * one `memo` (see launch-memo.ts).
   */
  start(id: number, memo?: LaunchMemo): Promise<void> {
    const c = this.#core;
    return c.lock.run(id, async () => {
      let v = await c.get(id);
      if (v.desired !== 'running') await c.store.batched((r) => r.instances.update(id, { desired: 'running' }));
      v = { ...v, desired: 'running' };
      const h = c.handles.get(id);
      if (holdsProcess(v.state) && v.state !== 'stopping') {
        if (h && isSameProcessAlive(h.ref.pid, h.ref.startTicks)) return;
        if (!h && v.pid !== null && v.startTicks !== null && isSameProcessAlive(v.pid, v.startTicks)) {
          this.#adoption.attach(v, { pid: v.pid, startTicks: v.startTicks });
          return;
        }
      }
      if (holdsProcess(v.state)) {
        await this.#exits.stopLocked(v);
        v = { ...v, state: 'stopped', pid: null, startTicks: null };
      }
      c.clearTimer(id);
      await this.#spawns.spawn(v, 0, memo);
    });
  }

  /**
   * Resolves when the instance is healthy; rejects when it goes down instead (exit, never
   * ready within its start_timeout) with the reason and its last log lines.
   */
  waitReady(id: number, timeoutMs: number): Promise<void> {
    const c = this.#core;
    return waitReady(
      {
        get: (i) => c.store.instances.get(i),
        subscribe: (i, listener) => c.watch(i, listener),
        logged: (i) => c.logged.get(i),
        logFile: (v) => this.logFile(v),
        secretEnv: c.secretEnv,
      },
      id,
      timeoutMs,
    );
  }

  /** Stops the instance's processes (desired = stopped). */
  stop(id: number): Promise<void> {
    const c = this.#core;
    return c.lock.run(id, async () => {
      const v = await c.get(id);
      if (v.desired !== 'stopped') await c.store.batched((r) => r.instances.update(id, { desired: 'stopped' }));
      await this.#exits.stopLocked(v);
    });
  }

  /** Stops the instance and deletes it; its port lease goes with it. */
  remove(id: number): Promise<void> {
    const c = this.#core;
    return c.lock.run(id, async () => {
      const v = await c.store.instances.get(id);
      if (!v) return;
      if (v.desired !== 'stopped') await c.store.batched((r) => r.instances.update(id, { desired: 'stopped' }));
      await this.#exits.stopLocked(v);
      await c.store.batched((r) => r.instances.delete(id));
      c.handles.delete(id);
      c.logged.delete(id);
      c.databases.forget(id);
    });
  }

  /** See InstanceAdoption.adoptAll: at boot, adopt the live, restart the dead. */
  adoptAll(
    findLeader: (marker: string) => ProcessRef | undefined,
    takeOver?: (dead: readonly InstanceView[], live: readonly InstanceView[]) => ReadonlySet<number>,
  ): Promise<void> {
    return this.#adoption.adoptAll(findLeader, takeOver);
  }

  /** See InstanceAdoption.pollAdopted: reports adopted processes that are gone. */
  pollAdopted(verify: boolean): void {
    this.#adoption.pollAdopted(verify);
  }
}
