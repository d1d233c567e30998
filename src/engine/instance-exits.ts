import type { ServiceSpec } from '../config/manifest-types.js';
import { describe } from '../core/errors.js';
import { holdsProcess } from '../core/instance-state.js';
import { decideAfterExit } from '../core/restart-policy.js';
import type { LastExit } from '../core/results.js';
import { formatSize } from '../config/size.js';
import type { ProcessRef } from '../runtime/process-runner.js';
import type { InstancePatch, InstanceView } from '../store/instances-repo.js';
import type { Handle, InstanceCore } from './instance-core.js';

/**
 * How an instance's process ends: stopped on purpose (`stopLocked`), or gone by itself
 * (`onExit`), after which the restart policy decides whether and when it runs again.
 */
export class InstanceExits {
  readonly #core: InstanceCore;
  readonly #respawn: (v: InstanceView, restartsDelta: number) => Promise<void>;

  constructor(core: InstanceCore, respawn: (v: InstanceView, restartsDelta: number) => Promise<void>) {
    this.#core = core;
    this.#respawn = respawn;
  }

  /** Stops the instance's processes; the caller holds its lock. */
  async stopLocked(v: InstanceView): Promise<void> {
    const c = this.#core;
    c.clearTimer(v.id);
    const spec = JSON.parse(v.spec) as ServiceSpec;
    const h = c.handles.get(v.id);
    h?.health?.stop();
    const ref = h?.ref ?? (v.pid !== null && v.startTicks !== null ? { pid: v.pid, startTicks: v.startTicks } : null);
    if (holdsProcess(v.state)) {
      if (v.state !== 'stopping') await c.transition(v, 'stopping');
      const how = await c.halt(v.id, spec, ref);
      c.handles.delete(v.id);
      c.limits.release(v, spec);
      await c.transition(
        { ...v, state: 'stopping' },
        'stopped',
        { pid: null, start_ticks: null },
        how === 'killed' ? 'killed after stop timeout' : undefined,
      );
      return;
    }
    // Not supposed to hold a process, but leave nothing behind in any case.
    await c.halt(v.id, spec, null);
    c.handles.delete(v.id);
    c.limits.release(v, spec);
    if (v.state !== 'stopped') await c.transition(v, 'stopped', { pid: null, start_ticks: null });
  }

  /** Called when a process we watch is gone: decide, by policy, whether and when it restarts. */
  onExit(id: number, ref: ProcessRef, code: number | null, signal: string | null, note?: string): Promise<void> {
    const c = this.#core;
    return c.lock
      .run(id, async () => {
        const h = c.handles.get(id);
        if (!h || h.retired || h.ref.pid !== ref.pid || h.ref.startTicks !== ref.startTicks) return; // stale: already handled
        const v = await c.store.instances.get(id);
        if (!v || v.desired === 'stopped' || !holdsProcess(v.state) || v.state === 'stopping') return;
        h.health?.stop();
        await this.afterExit(v, h, code, signal, note);
      })
      .catch((err) => c.log.error({ err: describe(err), instance: id }, 'handling an exit failed'));
  }

  async afterExit(
    v: InstanceView,
    h: Handle,
    code: number | null,
    signal: string | null,
    reason: string | undefined,
  ): Promise<void> {
    const c = this.#core;
    const spec = JSON.parse(v.spec) as ServiceSpec;
    // The leader is gone; children it left behind (workers holding the port) go too. The group of
    // a child whose exit event just came is checked with one system call; an adopted one's by a scan.
    await c.halt(v.id, spec, null, h.child ? h.ref.pid : null);
    const oom = c.limits.oomLimit(v, spec);
    c.limits.release(v, spec);
    const note =
      oom === undefined
        ? reason
        : `oom: killed for memory over its ${formatSize(oom)} limit${reason ? `; ${reason}` : ''}`;
    const d = decideAfterExit(
      { policy: spec.restart, code, signal, uptimeMs: Date.now() - h.startedAt, recentFailures: h.failures },
      c.tuning,
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
      c.handles.delete(v.id);
      await c.transition(v, 'exited', patch, how);
      return;
    }
    await c.transition(v, d.crashloop ? 'crashloop' : 'backoff', patch, `${how}; restart in ${d.delayMs} ms`);
    h.timer = setTimeout(() => void this.#restartAfterBackoff(v.id), d.delayMs);
  }

  #restartAfterBackoff(id: number): Promise<void> {
    const c = this.#core;
    return c.lock
      .run(id, async () => {
        const v = await c.store.instances.get(id);
        if (!v || v.desired !== 'running' || (v.state !== 'backoff' && v.state !== 'crashloop')) return;
        await this.#respawn(v, 1);
      })
      .catch((err) => c.log.warn({ err: describe(err), instance: id }, 'restart failed'));
  }
}
