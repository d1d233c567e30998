import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import { fatalTask } from '../runtime/swarm-health.js';
import { swarmServiceSpec, type SwarmIdentity } from '../runtime/swarm-spec.js';
import type { SwarmService, SwarmTask } from '../runtime/swarm-types.js';
import type { DeployContext } from './deploy/context.js';
import { registryLogin } from './deploy/image-pulls.js';
import type { StepHandle } from './deploy/journal.js';
import type { StepDeps } from './deploy/step-deps.js';
import { settleAll } from './deploy/wave.js';
import type { Scheduler } from './scheduler.js';
import type { SwarmDeploys } from './swarm-deploys.js';
import { swarmEnv } from './swarm-env.js';
import { SwarmRollbacks } from './swarm-rollbacks.js';
import { onSwarm, routed, swarmNameOf, swarmOptions } from './swarm-options.js';

/** What a wave step records before it touches a Swarm service: enough for an undo after a crash. */
interface Intent {
  readonly name: string;
  /** The service's version before this deploy's change; null when this deploy created it. */
  readonly version: number | null;
}

const noteKey = (service: string) => `swarm:${service}`;
const poll = () => new Promise((r) => setTimeout(r, 250));

/**
 * A deployment's services on the Docker Swarm of this host's engine (host setting `scheduler: swarm`), through the
 * Engine API. Containers go to the swarm, everything else (static files, processes, data stores) stays on this
 * host (`host`). A routed service gets one Swarm service per release: its tasks are healthy before the switch
 * points the edge at them (swarm-endpoints.ts), the old release's tasks serve until `retire` removes their
 * service after the drain. A worker (`port: none`) is updated in place, start-first, rolled back by Swarm when a
 * new task fails, which Berth waits for and confirms (swarm-rollbacks.ts). Each start writes its intent first.
 */
export class SwarmScheduler implements Scheduler {
  constructor(
    readonly swarm: SwarmDeploys,
    readonly d: StepDeps,
    readonly ctx: DeployContext,
    readonly host: Scheduler,
  ) {
    this.#rollbacks = new SwarmRollbacks(swarm.services);
  }

  readonly #rollbacks: SwarmRollbacks;

  async start(specs: readonly ServiceSpec[], h: StepHandle): Promise<void> {
    const here = specs.filter((s) => !onSwarm(s));
    await settleAll([
      ...(here.length > 0 ? [this.host.start(here, h)] : []),
      ...specs.filter(onSwarm).map((s) => this.#start(s, h)),
    ]);
  }

  async undo(specs: readonly ServiceSpec[], h: StepHandle): Promise<void> {
    const here = specs.filter((s) => !onSwarm(s));
    await settleAll([
      ...(here.length > 0 ? [this.host.undo(here, h)] : []),
      ...specs.filter(onSwarm).map((s) => this.#undo(s, h)),
    ]);
  }

  async drain(): Promise<void> {
    await this.host.drain();
    const prev = this.ctx.previous;
    if (!prev) return;
    const specs = this.ctx.manifest.services.filter((s) => onSwarm(s) && routed(s));
    const old = specs.flatMap(
      (s) => this.swarm.endpoints.upstreams(this.ctx.app, this.ctx.env, prev.number, s.name) ?? [],
    );
    if (old.length === 0) return;
    const deadline = Date.now() + Math.max(...specs.map((s) => s.drainMs));
    while (Date.now() < deadline) {
      if ((await this.d.proxy.inflight(old).catch(() => 0)) === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.d.log.warn(
      { app: this.ctx.app, env: this.ctx.env },
      'drain timeout: removing the old swarm tasks with requests in flight',
    );
  }

  /** Removes the environment's Swarm services of other releases (the blue of a blue-green, services dropped). */
  async retire(): Promise<void> {
    await this.host.retire();
    const c = this.ctx;
    const mine = await this.swarm.services.list({
      'berth.home': this.swarm.home,
      'berth.app': c.app,
      'berth.env': c.env,
    });
    const ours = String(c.release.number);
    await settleAll(
      mine.filter((s) => s.Spec.Labels['berth.release'] !== ours).map((s) => this.swarm.services.remove(s.ID)),
    );
  }

  async removeRelease(releaseId: number): Promise<void> {
    await this.host.removeRelease(releaseId);
    const specs = this.ctx.manifest.services.filter((s) => onSwarm(s) && routed(s));
    await settleAll(specs.map((s) => this.swarm.services.remove(swarmNameOf(this.#identity(s), s))));
  }

  #identity(spec: ServiceSpec): SwarmIdentity {
    const c = this.ctx;
    return { home: this.swarm.home, app: c.app, env: c.env, service: spec.name, release: c.release.number };
  }

  async #start(spec: ServiceSpec, h: StepHandle): Promise<void> {
    const c = this.ctx;
    const id = this.#identity(spec);
    const name = swarmNameOf(id, spec);
    const secrets = (await this.d.secretEnv?.(c.app, c.env)) ?? {};
    const task = { env: swarmEnv(id, spec, c.manifest.services, secrets), network: await this.swarm.network(id) };
    const body = { ...swarmServiceSpec(swarmOptions(id, spec, task)), Name: name };
    const image = body.TaskTemplate.ContainerSpec.Image;
    const login = registryLogin(spec, secrets, c.app, c.env) ?? this.swarm.registryLogin(image);
    const current = await this.swarm.services.inspect(name);
    const intent: Intent = { name, version: current?.Version.Index ?? null };
    await h.note({ [noteKey(spec.name)]: intent });
    if (!current) await this.swarm.services.create(body, login);
    else await this.swarm.services.update(current, body, login);
    h.crashPoint('swarm-requested');
    await this.#healthy(spec, name, current !== undefined && !routed(spec));
  }

  /**
   * Until `instances` tasks of this release run (healthy: Swarm keeps a task `starting` until its check passes)
   * and, for a routed service, the edge's table knows them. A task of this release that failed fails the wave,
   * but for an update in place (`inPlace`, a worker): Swarm rolls that back itself, which Berth waits for and
   * confirms (SwarmRollbacks), the message saying so. The time its health check may take, and a minute to pull.
   */
  async #healthy(spec: ServiceSpec, name: string, inPlace: boolean): Promise<void> {
    const c = this.ctx;
    const h = spec.health;
    const deadline = Date.now() + h.startTimeoutMs + h.intervalMs * (h.unhealthyThreshold + 1) + 60_000;
    const ours = String(c.release.number);
    for (;;) {
      const s = await this.swarm.services.inspect(name);
      if (!s) throw this.#failed(spec, 'its Swarm service was removed while it started');
      const tasks = (await this.swarm.services.tasks(s.ID)).filter(
        (t) => t.Spec.ContainerSpec.Labels?.['berth.release'] === ours,
      );
      const failed = fatalTask(
        tasks.filter((t) => t.Status.State === 'failed' || t.Status.State === 'rejected'),
        spec.instances,
      );
      if (failed && !inPlace)
        throw this.#failed(spec, `a task failed: ${failed.Status.Err ?? failed.Status.Message ?? failed.Status.State}`);
      const state = s.UpdateStatus?.State;
      if (state === 'rollback_started' || state === 'rollback_completed' || state === 'rollback_paused')
        throw await this.#rolledBack(spec, s);
      if (state === 'paused') throw this.#failed(spec, `Swarm paused the update: ${s.UpdateStatus?.Message ?? ''}`);
      if (running(tasks) >= spec.instances && (state === undefined || state === 'completed')) {
        if (!routed(spec)) return;
        await this.swarm.endpoints.refresh();
        const ups = this.swarm.endpoints.upstreams(c.app, c.env, c.release.number, spec.name) ?? [];
        if (ups.length >= spec.instances) return;
      }
      // An update in place is Swarm's to finish or roll back: while Swarm still updates, it gets two minutes more.
      if (Date.now() > deadline + (inPlace && state === 'updating' ? 120_000 : 0)) {
        const last = tasks.find((t) => t.Status.Err)?.Status.Err;
        const swarm = `Swarm's update: ${state ?? 'none'}${s.UpdateStatus?.Message ? ` (${s.UpdateStatus.Message})` : ''}`;
        throw this.#failed(
          spec,
          `${running(tasks)} of ${spec.instances} tasks healthy in time; ${swarm}${last ? `; a task: ${last}` : ''}`,
        );
      }
      await poll();
    }
  }

  /** Swarm undid the update (a new task failed): confirmed once its rollback completed, the spec no longer ours. */
  async #rolledBack(spec: ServiceSpec, s: SwarmService): Promise<BerthError> {
    const back = await this.#rollbacks.confirm(s, String(this.ctx.release.number));
    return this.#failed(
      spec,
      `Swarm rolled the update back (${s.UpdateStatus?.Message ?? 'a new task failed'}); the tasks of release ${back.Spec.Labels['berth.release']} kept running`,
    );
  }

  #failed(spec: ServiceSpec, why: string): BerthError {
    return new BerthError('failed', 'swarm_start_failed', `service ${spec.name} on the swarm: ${why}`, {
      hint: `berth logs ${this.ctx.app} shows the build; docker service ps on a manager shows the tasks`,
    });
  }

  /**
   * Idempotent (a berthd killed during it undoes again): the intent says which service; a created one is removed,
   * an updated one goes back to its previous spec once (SwarmRollbacks: Swarm's own rollback waited for).
   */
  async #undo(spec: ServiceSpec, h: StepHandle): Promise<void> {
    const intent = h.step.data?.[noteKey(spec.name)] as Intent | undefined;
    if (!intent) return; // nothing was begun
    if (intent.version === null || routed(spec)) {
      await this.swarm.services.remove(intent.name);
      return;
    }
    await this.#rollbacks.undo(intent.name, String(this.ctx.release.number));
  }
}

function running(tasks: readonly SwarmTask[]): number {
  return tasks.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running').length;
}
