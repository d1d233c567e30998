import type { ServiceSpec } from '../config/manifest-types.js';
import { describe } from '../core/errors.js';
import { holdsProcess } from '../core/instance-state.js';
import type { ProcessRef } from '../runtime/process-runner.js';
import type { InstanceView } from '../store/instances-repo.js';
import { isSameProcessAlive, signalReaches } from '../system/proc.js';
import type { Handle, InstanceCore } from './instance-core.js';
import { runsInContainer } from './container-instances.js';
import type { InstanceExits } from './instance-exits.js';
import type { InstanceHealth } from './instance-health.js';
import type { InstanceSpawns } from './instance-spawn.js';

/** Adoption after a daemon restart: live processes it did not spawn are supervised, dead ones restarted. */
export class InstanceAdoption {
  readonly #core: InstanceCore;
  readonly #spawns: InstanceSpawns;
  readonly #exits: InstanceExits;
  readonly #health: InstanceHealth;

  constructor(core: InstanceCore, parts: { spawns: InstanceSpawns; exits: InstanceExits; health: InstanceHealth }) {
    this.#core = core;
    this.#spawns = parts.spawns;
    this.#exits = parts.exits;
    this.#health = parts.health;
  }

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
    const c = this.#core;
    const dead: InstanceView[] = [];
    const all = await c.store.instances.list();
    // Containers are found by their label (berth.instance), processes by their marker in /proc.
    const labelled = await c.containers.live(all).catch((err: unknown) => {
      c.log.warn({ err: describe(err) }, 'listing containers failed');
      return new Map<string, ProcessRef>();
    });
    const byMarker = findLeader;
    findLeader = (marker) => labelled.get(marker) ?? byMarker(marker);
    c.limits.sweep(new Set(all.map((v) => v.id)));
    for (const v of all) {
      await c.lock
        .run(v.id, () => this.#adopt(v, findLeader, dead))
        .catch((err) => c.log.warn({ err: describe(err), instance: v.id }, 'adoption failed'));
    }
    const taken =
      takeOver?.(
        dead,
        all.filter((v) => c.handles.has(v.id)),
      ) ?? new Set<number>();
    for (const v of dead) {
      if (taken.has(v.id)) continue;
      await c.lock
        .run(v.id, () => this.#restartDead(v))
        .catch((err) => c.log.warn({ err: describe(err), instance: v.id }, 'adoption failed'));
    }
  }

  async #adopt(
    v: InstanceView,
    findLeader: (marker: string) => ProcessRef | undefined,
    dead: InstanceView[],
  ): Promise<void> {
    const c = this.#core;
    if (c.handles.has(v.id)) return; // already supervised (started again by the recovery of a deployment)
    const recorded =
      v.pid !== null && v.startTicks !== null && isSameProcessAlive(v.pid, v.startTicks)
        ? { pid: v.pid, startTicks: v.startTicks }
        : undefined;
    const live = recorded ?? (holdsProcess(v.state) || v.state === 'pending' ? findLeader(c.marker(v.id)) : undefined);
    if (v.desired === 'stopped') {
      await this.#exits.stopLocked(v);
      return;
    }
    if (v.state === 'stopping') {
      // berthd died in a stop that a start followed (a deployment's undo): finish the stop, run it again.
      await this.#exits.stopLocked(v);
      await this.#spawns.spawn({ ...v, state: 'stopped', pid: null, startTicks: null }, 1);
      return;
    }
    if (live) {
      if (v.state === 'pending') await c.transition(v, 'starting', {}, 'adopted');
      this.attach({ ...v, state: v.state === 'pending' ? 'starting' : v.state }, live);
      if (!recorded || v.state === 'pending')
        await c.store.instances.update(v.id, {
          pid: live.pid,
          start_ticks: live.startTicks,
          started_at: v.startedAt ?? Date.now(),
        });
      return;
    }
    if (v.state === 'exited' || v.state === 'failed') return;
    if (holdsProcess(v.state) || v.state === 'backoff' || v.state === 'crashloop') dead.push(v);
    else await this.#spawns.spawn(v, v.state === 'pending' ? 0 : 1);
  }

  /** A process that should run died while the daemon was away: the usual exit path decides about its restart. */
  async #restartDead(v: InstanceView): Promise<void> {
    const c = this.#core;
    if (c.handles.has(v.id)) return;
    if (!holdsProcess(v.state)) {
      await this.#spawns.spawn(v, 1);
      return;
    }
    const ref = { pid: v.pid ?? 0, startTicks: v.startTicks ?? '' };
    c.handles.set(v.id, {
      ref,
      child: undefined,
      startedAt: v.startedAt ?? 0,
      failures: 0,
      timer: undefined,
      health: undefined,
      retired: false,
    });
    const ended = await this.#containerEnded(v);
    const note = 'died while berthd was not running';
    queueMicrotask(() => void this.#exits.onExit(v.id, ref, ended?.code ?? null, null, note));
  }

  /** A container that ended while berthd was away: its last output into its log, and its exit code. */
  async #containerEnded(v: InstanceView): Promise<{ code: number } | undefined> {
    if (!runsInContainer(JSON.parse(v.spec) as ServiceSpec)) return undefined;
    const c = this.#core;
    return c.containers.ended(v, c.logFile(v), await c.users?.ids(v.app, v.env)).catch((err: unknown) => {
      c.log.warn({ err: describe(err), instance: v.id }, 'reading the end of a container failed');
      return undefined;
    });
  }

  /** Supervises a live process this daemon did not spawn: probes it, and learns of its exit by polling. */
  attach(v: InstanceView, live: ProcessRef): void {
    const h: Handle = {
      ref: live,
      child: undefined,
      startedAt: v.startedAt ?? Date.now(),
      failures: 0,
      timer: undefined,
      health: undefined,
      retired: false,
    };
    this.#core.handles.set(v.id, h);
    if (runsInContainer(JSON.parse(v.spec) as ServiceSpec)) void this.#followContainer(v, h);
    this.#health.watch(
      v.id,
      v.port,
      h,
      JSON.parse(v.spec) as ServiceSpec,
      v.state === 'healthy' ? 'healthy' : 'starting',
    );
  }

  /** An adopted container: its exit comes from the engine (exit code included) and its output goes on to its log. */
  async #followContainer(v: InstanceView, h: Handle): Promise<void> {
    const c = this.#core;
    try {
      const got = await c.containers.adopt(v, c.logFile(v), await c.users?.ids(v.app, v.env));
      if (!got || c.handles.get(v.id) !== h) return;
      h.child = got.child;
      c.logged.set(v.id, got.logged);
      got.child.once('exit', (code, signal) => void this.#exits.onExit(v.id, h.ref, code, signal));
    } catch (err) {
      c.log.warn({ err: describe(err), instance: v.id }, 'following an adopted container failed');
    }
  }

  /**
   * Checks adopted processes (not our children, so no exit event) and reports the dead. Cheap
   * enough to run every second for thousands: kill(pid, 0) is one system call and opens no
   * file; `verify` (every few rounds) also reads /proc/<pid>/stat, for a zombie or a pid
   * reused by another process.
   */
  pollAdopted(verify: boolean): void {
    for (const [id, h] of this.#core.handles) {
      if (h.child !== undefined || h.timer !== undefined || h.retired) continue;
      if (signalReaches(h.ref.pid) && (!verify || isSameProcessAlive(h.ref.pid, h.ref.startTicks))) continue;
      void this.#exits.onExit(id, h.ref, null, null, 'adopted process exited; its exit status is unknown');
    }
  }
}
