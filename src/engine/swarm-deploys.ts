import type { Logger } from 'pino';
import { BerthError } from '../core/errors.js';
import type { ContainerEngine } from '../runtime/container-engine.js';
import { SwarmClient } from '../runtime/swarm-client.js';
import { SwarmServices } from '../runtime/swarm-services.js';
import type { DeployContext } from './deploy/context.js';
import type { StepDeps } from './deploy/step-deps.js';
import type { RouteSync } from './route-sync.js';
import type { Scheduler } from './scheduler.js';
import { SwarmEndpoints } from './swarm-endpoints.js';
import { SwarmScheduler } from './swarm-scheduler.js';

/**
 * Deploys onto the Docker Swarm of this host's engine (host setting `scheduler: swarm`): the Swarm client, the
 * healthy task endpoints the edge routes to (read from the start, so a restarted berthd routes to what Swarm
 * kept running: nothing is restarted), and a scheduler per deployment.
 */
export class SwarmDeploys {
  readonly services: SwarmServices;
  readonly endpoints: SwarmEndpoints;

  constructor(
    engine: ContainerEngine,
    readonly home: string,
    routes: RouteSync,
    log: Logger,
  ) {
    this.services = new SwarmServices(engine);
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
  static open(o: {
    scheduler: 'host' | 'swarm';
    engine: ContainerEngine | undefined;
    home: string;
    routes: RouteSync;
    log: Logger;
  }): SwarmDeploys | undefined {
    if (o.scheduler !== 'swarm') return undefined;
    if (!o.engine)
      throw new BerthError(
        'invalid',
        'invalid_settings',
        'scheduler: swarm needs a container engine, and none is set',
        {
          hint: "set container_engine in config.yaml (or BERTH_CONTAINER_ENGINE) to a swarm manager's Docker socket",
        },
      );
    const swarm = new SwarmDeploys(o.engine, o.home, o.routes, o.log);
    swarm.endpoints.start();
    return swarm;
  }

  scheduler(d: StepDeps, ctx: DeployContext, host: Scheduler): Scheduler {
    return new SwarmScheduler(this, d, ctx, host);
  }

  stop(): void {
    this.endpoints.stop();
  }
}
