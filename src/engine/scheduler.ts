import type { ServiceSpec } from '../config/manifest-types.js';
import type { DeployContext } from './deploy/context.js';
import type { StepHandle } from './deploy/journal.js';
import { drainOld } from './deploy/retire.js';
import type { StepDeps } from './deploy/step-deps.js';
import { removeAll, WaveStarts } from './deploy/wave.js';
import { dropUnusedAddresses } from './service-addresses.js';

/**
 * Where a release's services run, as a deployment's steps see it: the journal (deploy/journal.ts) writes each
 * step before it acts, and calls these for the steps `wave` (start and undo), `drain` and `retire`, whatever
 * runs the instances. The single host (HostScheduler: Berth's own processes and containers) and a Docker Swarm
 * (swarm-scheduler.ts) are its two implementations, so undo and crash recovery are the same code for both.
 * The switch is the deployment's own: it makes the release current, and the route table then reads each
 * scheduler's healthy endpoints (see route-sync.ts).
 */
export interface Scheduler {
  /** Runs the services' instances of this release; resolves once every one is healthy, or fails once all settled. */
  start(specs: readonly ServiceSpec[], h: StepHandle): Promise<void>;
  /** Undoes `start` for these services (the step's record says what began); idempotent, replayed by recovery. */
  undo(specs: readonly ServiceSpec[], h: StepHandle): Promise<void>;
  /** After the switch: waits until the old release has no request in flight (up to its drain time). */
  drain(): Promise<void>;
  /** After the drain: stops what the releases other than this one still run. */
  retire(): Promise<void>;
  /** The release's undo (a deploy undone before its switch): whatever still runs of it is removed. */
  removeRelease(releaseId: number): Promise<void>;
}

/** One host: the instances InstanceManager runs (processes and containers), started by waves (WaveStarts). */
export class HostScheduler implements Scheduler {
  readonly #d: StepDeps;
  readonly #ctx: DeployContext;
  readonly #waves: WaveStarts;

  constructor(deps: StepDeps, ctx: DeployContext, releaseId: () => Promise<number>) {
    this.#d = deps;
    this.#ctx = ctx;
    this.#waves = new WaveStarts(deps, ctx, releaseId);
  }

  start(specs: readonly ServiceSpec[], h: StepHandle): Promise<void> {
    return this.#waves.start(specs, h);
  }

  async undo(specs: readonly ServiceSpec[]): Promise<void> {
    await this.#waves.undo(specs);
    if (await dropUnusedAddresses(this.#d.store)) this.#d.routes.syncQuietly();
  }

  drain(): Promise<void> {
    return drainOld(this.#d, this.#ctx);
  }

  async retire(): Promise<void> {
    // All at once: each stop waits for its own processes, and one scan of /proc serves them all.
    const all = await this.#d.store.instances.list({ environmentId: this.#ctx.environmentId });
    await removeAll(
      this.#d.instances,
      all.filter((v) => v.releaseId !== this.#ctx.release.id),
    );
    if (await dropUnusedAddresses(this.#d.store)) await this.#d.routes.sync();
  }

  async removeRelease(releaseId: number): Promise<void> {
    await removeAll(this.#d.instances, await this.#d.store.instances.list({ releaseId }));
  }
}
