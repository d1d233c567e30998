import type { ServiceSpec } from '../../config/manifest-types.js';
import { Limiter } from '../../core/limiter.js';
import type { Repos } from '../../store/store.js';
import type { InstanceManager } from '../instance-manager.js';
import { LaunchMemo } from '../launch-memo.js';
import type { DeployContext } from './context.js';
import type { StepHandle } from './journal.js';
import type { StepDeps } from './step-deps.js';
import { isDatabase } from '../databases/connection.js';
import { startDatabase, undoDatabase } from '../databases/database-wave.js';

/**
 * Services of a wave whose instances are being recorded or started at once; the rest wait their
 * turn. Without it a 1,000-service wave recorded and started every instance in one chain of
 * promises (the store answers at once), and no request (`berth ps`), timer or exit event was
 * served until all of them had reached their spawn: seconds of a held event loop. Each turn
 * begins after one turn of the event loop. Waiting for the instances to be ready is not bounded.
 */
const WAVE_CONCURRENCY = 4;

/** What the services of one wave share while they start. */
interface Wave {
  readonly memo: LaunchMemo;
  readonly turns: Limiter;
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/** A dependency wave's step: its services' instances started and healthy, or its undo. */
export class WaveStarts {
  readonly #d: StepDeps;
  readonly #ctx: DeployContext;
  readonly #releaseId: () => Promise<number>;

  constructor(deps: StepDeps, ctx: DeployContext, releaseId: () => Promise<number>) {
    this.#d = deps;
    this.#ctx = ctx;
    this.#releaseId = releaseId;
  }

  /**
   * Starts the services and waits until every instance is healthy. Every service finishes what it
   * began before the wave fails: an undo never runs beside a start still stopping an old instance or leasing its port.
   */
  async start(specs: readonly ServiceSpec[], h: StepHandle): Promise<void> {
    const wave: Wave = { memo: new LaunchMemo(), turns: new Limiter(WAVE_CONCURRENCY) };
    await settleAll(specs.map((spec) => this.#startService(spec, h, wave)));
  }

  /** Undoes the services' starts (see #undoService). */
  async undo(specs: readonly ServiceSpec[]): Promise<void> {
    await settleAll(specs.map((spec) => this.#undoService(spec)));
  }

  async #oldInstances(service: string) {
    const c = this.#ctx;
    if (!c.previous) return [];
    return this.#d.store.instances.list({ releaseId: c.previous.id, service });
  }

  /** Recreate stops the old first (and hands over a pinned port); blue-green leaves them serving. */
  async #startService(spec: ServiceSpec, h: StepHandle, wave: Wave): Promise<void> {
    const c = this.#ctx;
    const releaseId = await this.#releaseId();
    if (isDatabase(spec))
      return startDatabase(this.#d, c, spec, releaseId, () =>
        wave.turns.run(() => this.#createInstances(spec, releaseId)),
      );
    if (spec.strategy === 'recreate') {
      const olds = await this.#oldInstances(spec.name);
      if (olds.length > 0) {
        // Down from here until the switch: the step list says so, and the switch how long it was.
        c.down = { ...c.down, [spec.name]: Date.now() };
        await h.note({ down: Object.keys(c.down) });
      }
      for (const old of olds) {
        await this.#d.instances.stop(old.id);
        await this.#d.store.write((r) => r.leases.releaseInstance(old.id));
      }
    }
    const ids = await wave.turns.run(() => this.#createInstances(spec, releaseId));
    await Promise.all(
      ids.map(async (id) => {
        await wave.turns.run(async () => {
          await nextTurn();
          await this.#d.instances.start(id, wave.memo);
        });
        await this.#d.instances.waitReady(id, spec.health.startTimeoutMs + 1000);
      }),
    );
  }

  /** The service's instances, recorded with their port leases in one transaction, after a turn of the event loop. */
  async #createInstances(spec: ServiceSpec, releaseId: number): Promise<number[]> {
    const c = this.#ctx;
    await nextTurn();
    return this.#d.store.write(async (r) => {
      const created: number[] = [];
      for (let idx = 0; idx < spec.instances; idx++) {
        const id = await r.instances.create(
          {
            environmentId: c.environmentId,
            releaseId,
            service: spec.name,
            idx,
            spec: JSON.stringify(spec),
            rootDir: c.release.dir,
          },
          Date.now(),
        );
        const port = await this.#lease(r, id, spec);
        if (port !== null) await r.instances.update(id, { port });
        created.push(id);
      }
      return created;
    });
  }

  async #lease(r: Repos, id: number, spec: ServiceSpec): Promise<number | null> {
    if (spec.port === 'none') return null;
    if (spec.port === 'auto') return this.#d.ports.leaseAuto(r, id, Date.now());
    const orgId = (await r.apps.find(this.#ctx.app))?.orgId ?? -1;
    await this.#d.ports.leasePinned(r, id, spec.port, Date.now(), orgId);
    return spec.port;
  }

  /**
   * Removes the new release's instances of a service; a recreate service's old instances run
   * again (each start takes its port lease back) and are healthy before the undo is done.
   */
  async #undoService(spec: ServiceSpec): Promise<void> {
    if (isDatabase(spec)) return undoDatabase(this.#d, this.#ctx, spec);
    const row = await this.#d.store.releases.byNumber(this.#ctx.environmentId, this.#ctx.release.number);
    if (row)
      await removeAll(this.#d.instances, await this.#d.store.instances.list({ releaseId: row.id, service: spec.name }));
    if (spec.strategy !== 'recreate') return;
    await settleAll(
      (await this.#oldInstances(spec.name)).map(async (old) => {
        await this.#d.instances.start(old.id);
        await this.#d.instances.waitReady(old.id, (JSON.parse(old.spec) as ServiceSpec).health.startTimeoutMs + 1000);
      }),
    );
  }
}

/** Removes instances side by side; fails, once all are done, with the first failure. */
export function removeAll(instances: InstanceManager, list: ReadonlyArray<{ id: number }>): Promise<void> {
  return settleAll(list.map((v) => instances.remove(v.id)));
}

/** Waits for every task; then fails with the first failure, if any. */
export async function settleAll(tasks: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(tasks)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
