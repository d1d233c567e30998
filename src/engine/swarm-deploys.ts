import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ServiceSpec } from '../config/manifest-types.js';
import type { HostSettings } from '../config/host-settings.js';
import { pushImage } from '../runtime/image-push.js';
import type { RegistryLogin } from '../runtime/image-pull.js';
import { BerthError } from '../core/errors.js';
import type { ContainerEngine } from '../runtime/container-engine.js';
import { SwarmClient } from '../runtime/swarm-client.js';
import { SwarmNetworks } from '../runtime/swarm-networks.js';
import { swarmScopedName, type SwarmIdentity } from '../runtime/swarm-spec.js';
import { SwarmServices } from '../runtime/swarm-services.js';
import type { DeployContext } from './deploy/context.js';
import type { StepDeps } from './deploy/step-deps.js';
import type { RouteSync } from './route-sync.js';
import type { Scheduler } from './scheduler.js';
import { SwarmEndpoints } from './swarm-endpoints.js';
import { SwarmScheduler } from './swarm-scheduler.js';
import { SwarmTasks } from './swarm-tasks.js';

/**
 * Deploys onto the Docker Swarm of this host's engine (host setting `scheduler: swarm`): the Swarm client, the
 * healthy task endpoints the edge routes to (read from the start, so a restarted berthd routes to what Swarm
 * kept running: nothing is restarted), and a scheduler per deployment.
 */
export class SwarmDeploys {
  readonly services: SwarmServices;
  readonly endpoints: SwarmEndpoints;
  /** The tasks as `berth ps` and `berth logs` show them. */
  readonly tasks: SwarmTasks;
  readonly networks: SwarmNetworks;

  readonly #engine: ContainerEngine;
  readonly #registry: HostSettings['swarmRegistry'];

  constructor(
    engine: ContainerEngine,
    readonly home: string,
    routes: RouteSync,
    log: Logger,
    registry?: HostSettings['swarmRegistry'],
  ) {
    this.#engine = engine;
    this.#registry = registry;
    this.services = new SwarmServices(engine);
    this.tasks = new SwarmTasks(engine, home);
    this.networks = new SwarmNetworks(engine);
    this.endpoints = new SwarmEndpoints({
      services: this.services,
      swarm: new SwarmClient(engine),
      home,
      log,
      changed: () => routes.syncQuietly(),
    });
    routes.useRemote((app, env, release, service) => this.endpoints.upstreams(app, env, release, service));
  }

  /** With `scheduler: swarm` and an engine: the swarm's deploys, reading its tasks; else none (this host runs all). */
  static open(
    settings: Pick<HostSettings, 'scheduler' | 'swarmRegistry'>,
    engine: ContainerEngine | undefined,
    home: string,
    routes: RouteSync,
    log: Logger,
  ): SwarmDeploys | undefined {
    if (settings.scheduler !== 'swarm') return undefined;
    if (!engine)
      throw new BerthError(
        'invalid',
        'invalid_settings',
        'scheduler: swarm needs a container engine, and none is set',
        {
          hint: "set container_engine in config.yaml (or BERTH_CONTAINER_ENGINE) to a swarm manager's Docker socket",
        },
      );
    const swarm = new SwarmDeploys(engine, home, routes, log, settings.swarmRegistry);
    swarm.endpoints.start();
    return swarm;
  }

  scheduler(d: StepDeps, ctx: DeployContext, host: Scheduler): Scheduler {
    return new SwarmScheduler(this, d, ctx, host);
  }

  /** The overlay network of the identity's app environment (made if missing): its tasks reach each other there. */
  async network(id: Pick<SwarmIdentity, 'home' | 'app' | 'env'>): Promise<string> {
    const name = swarmScopedName(id);
    await this.networks.ensure(name, { 'berth.home': id.home, 'berth.app': id.app, 'berth.env': id.env });
    return name;
  }

  /** The login of swarm_registry for an image in it (password_file read each time: it may be rotated); else none. */
  registryLogin(image: string): RegistryLogin | undefined {
    const r = this.#registry;
    if (!r?.passwordFile || !image.startsWith(`${r.address}/`)) return undefined;
    return { username: r.username ?? '', password: readFileSync(r.passwordFile, 'utf8').trim() };
  }

  /**
   * The images this deploy built (`build:`, tagged berth/<app>-<env>:<release> on the manager's engine) pushed to
   * the swarm's registry (host setting swarm_registry), each service then pinned to the pushed digest, which the
   * release records: what the nodes pull and what `berth rollback` runs. Without the setting, nothing is pushed
   * and the wave refuses the service with the way out.
   */
  async pushBuilt(app: string, env: string, release: number, services: readonly ServiceSpec[]): Promise<ServiceSpec[]> {
    const r = this.#registry;
    if (!r) return [...services];
    const login = this.registryLogin(`${r.address}/`);
    const out: ServiceSpec[] = [];
    for (const s of services) {
      const k = s.container;
      if (!k?.build || k.image === null || k.digest !== undefined) {
        out.push(s);
        continue;
      }
      const target = `${r.address}/berth-${this.home.slice(0, 8)}-${app}-${env}:${release}`;
      const digest = await pushImage({ engine: this.#engine, local: k.imageId ?? k.image, target, login });
      out.push({ ...s, container: { ...k, digest } });
    }
    return out;
  }

  stop(): void {
    this.endpoints.stop();
  }
}
