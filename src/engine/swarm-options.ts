import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import {
  swarmScopedName,
  swarmServiceName,
  type SwarmIdentity,
  type SwarmServiceOptions,
} from '../runtime/swarm-spec.js';

/** What a service's tasks get of their deployment: their environment (swarm-env.ts) and their overlay network. */
export interface SwarmTaskContext {
  readonly env: Readonly<Record<string, string>>;
  readonly network?: string;
}

/** Whether a Swarm runs this service: containers do; static files, processes and data stores stay on this host. */
export function onSwarm(spec: ServiceSpec): boolean {
  return spec.kind === 'container';
}

/** A routed service gets one Swarm service per release (blue-green); a worker (`port: none`) one, updated in place. */
export function routed(spec: ServiceSpec): boolean {
  return spec.port !== 'none';
}

/** The Swarm service's name of a Berth service's release: `-r<n>` for a routed one, none for a worker. */
export function swarmNameOf(id: SwarmIdentity, spec: ServiceSpec): string {
  const base = { home: id.home, app: id.app, env: id.env };
  return routed(spec)
    ? swarmServiceName({ ...base, service: `${id.service}-r${id.release}` })
    : swarmServiceName({ ...base, service: id.service });
}

/**
 * What a Swarm service of a container service runs: its image by registry digest (the pull step's, which the
 * release records, so `berth rollback` runs the same bytes), its replicas (`instances:`), its command, its
 * environment and network (`task`: none without), its `user:`, its `volumes:` as named volumes of the node it is
 * pinned to (swarm-env.ts refuses them unpinned before a deploy starts), and its port published on each task's
 * node. Refused with the fix: a `build:` image (no swarm_registry to push it to), a port with no container port.
 */
export function swarmOptions(id: SwarmIdentity, spec: ServiceSpec, task?: SwarmTaskContext): SwarmServiceOptions {
  const k = spec.container;
  if (spec.kind !== 'container' || !k)
    throw new BerthError('invalid', 'swarm_kind', `service ${spec.name}: only container services run on a swarm`);
  const image = k.digest ?? k.image;
  if (image === null || (k.build !== null && k.digest === undefined))
    throw new BerthError(
      'invalid',
      'swarm_build',
      `service ${spec.name}: an image built by berth (build:) needs a registry the swarm's nodes pull from`,
      {
        hint: 'set swarm_registry in config.yaml (berth pushes its builds there), or push the image yourself and deploy it with image:',
      },
    );
  const port = routed(spec) ? k.port : null;
  if (routed(spec) && port === null)
    throw new BerthError(
      'invalid',
      'swarm_port',
      `service ${spec.name}: a routed service on a swarm needs container_port`,
      {
        hint: 'set container_port: to the port the image listens on, or port: none for a worker',
      },
    );
  return {
    identity: id,
    image,
    replicas: spec.instances,
    port,
    env: task?.env ?? {},
    ...(task?.network !== undefined ? { networks: [task.network] } : {}),
    ...(k.user ? { user: k.user } : {}),
    volumes: k.volumes.map((v) => ({ source: swarmScopedName(id, v.name), target: v.target })),
    ...(k.entrypoint ? { command: k.entrypoint } : {}),
    ...(spec.argv.length > 0 ? { args: spec.argv } : {}),
    health: spec.health,
    stopTimeoutMs: Math.max(spec.stopTimeoutMs, spec.drainMs),
    ...(spec.swarm?.placement ? { placement: spec.swarm.placement } : {}),
    ...(spec.swarm?.update ? { update: spec.swarm.update } : {}),
  };
}
