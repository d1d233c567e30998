import type { ServiceSpec } from '../config/manifest-types.js';
import { describe } from '../core/errors.js';
import { holdsProcess } from '../core/instance-state.js';
import type { LastExit } from '../core/results.js';
import { probe } from '../health/probes.js';
import { instanceProcesses } from '../runtime/process-table.js';
import { isSameProcessAlive } from '../system/proc.js';
import { HealthWatch } from './health-watch.js';
import { isDatabase } from './databases/connection.js';
import type { Handle, InstanceCore } from './instance-core.js';
import type { InstanceExits } from './instance-exits.js';

/** An instance's health checks, and what their verdicts do: healthy, or unhealthy and restarted by policy. */
export class InstanceHealth {
  readonly #core: InstanceCore;
  readonly #exits: InstanceExits;

  constructor(core: InstanceCore, exits: InstanceExits) {
    this.#core = core;
    this.#exits = exits;
  }

  /** An instance's port is fixed for its life (a deploy makes new instances): probes read no store. */
  watch(id: number, port: number | null, h: Handle, spec: ServiceSpec, phase: 'starting' | 'healthy'): void {
    const c = this.#core;
    const marker = c.marker(id);
    h.health?.stop();
    h.health = new HealthWatch({
      health: spec.health,
      phase,
      check: (starting) =>
        spec.kind === 'container'
          ? c.containers.probe(id, spec, port, () => isSameProcessAlive(h.ref.pid, h.ref.startTicks))
          : isDatabase(spec)
            ? c.databases.probe(id, spec, port)
            : probe(spec.health.probe, {
                port,
                leader: h.ref.pid,
                pids: () => instanceProcesses(h.ref, marker, 50).map((p) => p.pid),
                leaderAlive: () => isSameProcessAlive(h.ref.pid, h.ref.startTicks),
                verifyOwner: starting,
              }),
      onChange: (to, reason) =>
        c.lock
          .run(id, () => this.#onHealth(id, h, to, reason))
          .catch((err) => c.log.error({ err: describe(err), instance: id }, 'health change failed')),
    });
  }

  async #onHealth(id: number, h: Handle, to: 'healthy' | 'unhealthy', reason: string): Promise<void> {
    const c = this.#core;
    if (c.handles.get(id) !== h || h.retired) return;
    const v = await c.store.instances.get(id);
    if (!v || v.state === 'stopping' || !holdsProcess(v.state) || v.state === to) return;
    if (to === 'healthy') {
      await c.transition(v, to);
      return;
    }
    await c.transition(
      v,
      to,
      { last_exit: JSON.stringify({ code: null, signal: null, at: Date.now(), note: reason } satisfies LastExit) },
      reason,
    );
    const spec = JSON.parse(v.spec) as ServiceSpec;
    if (spec.restart === 'never' || v.desired !== 'running') return; // stays unhealthy; probes go on
    h.retired = true;
    h.health?.stop();
    await c.halt(id, spec, h.ref);
    await this.#exits.afterExit({ ...v, state: 'unhealthy' }, h, null, null, `restarted: ${reason}`);
  }
}
