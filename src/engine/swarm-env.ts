import type { Manifest, ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import { MARKER_ENV } from '../runtime/process-runner.js';
import type { SwarmIdentity } from '../runtime/swarm-spec.js';
import { containerEnv } from './container-instances.js';
import { baseEnv, discoveryPrefix, instanceEnv, launchEnv, type DependencyAddress } from './launch-env.js';
import { addressable } from './service-addresses.js';
import { onSwarm, routed, swarmNameOf } from './swarm-options.js';

/**
 * The dependencies of `spec` its tasks reach on the environment's overlay network: a routed service of the swarm
 * by the Swarm service name of the same release (Swarm's DNS answers with its tasks' addresses, on whatever node
 * they run) on its container port. A worker (`port: none`) has nothing to reach; swarmFit refuses the rest.
 */
export function swarmAddresses(
  id: SwarmIdentity,
  spec: ServiceSpec,
  services: readonly ServiceSpec[],
): DependencyAddress[] {
  return spec.dependsOn.flatMap((name) => {
    const dep = services.find((s) => s.name === name);
    const port = dep?.container?.port;
    if (!dep || !onSwarm(dep) || !routed(dep) || port == null) return [];
    return [{ service: name, port, dnsName: swarmNameOf({ ...id, service: name }, dep) }];
  });
}

/**
 * The environment of a service's Swarm tasks: what a container of it gets on one host (launchEnv, instanceEnv and
 * containerEnv, the same functions: the manifest's env, PORT its container port, the app environment's secrets,
 * its dependencies' <NAME>_URL), with the dependencies at their swarm addresses. No instance marker: a task is
 * Swarm's, no instance of this host. Secrets travel in the service's spec, as in a container's on one host.
 */
export function swarmEnv(
  id: SwarmIdentity,
  spec: ServiceSpec,
  services: readonly ServiceSpec[],
  secrets: Readonly<Record<string, string>>,
): Record<string, string> {
  const vars = launchEnv(spec, null, '', '', baseEnv(), swarmAddresses(id, spec, services));
  const env = containerEnv(spec, instanceEnv(vars, { secrets }));
  delete env[MARKER_ENV];
  return env;
}

/** A constraint that names one node: `node.id==...` or `node.hostname==...`. */
const ONE_NODE = /^\s*node\.(id|hostname)\s*==\s*\S+\s*$/;

/**
 * Refuses, before anything of the deploy starts, what a manifest's swarm services could not get as one host's
 * containers do: a dependency Berth runs on this host (a process or a managed database on 127.0.0.1, which no
 * task on another node reaches) unless the manifest's env sets its <NAME>_URL, and a named volume of a service
 * not pinned to one node (each node would have its own, empty).
 */
export function swarmFit(manifest: Pick<Manifest, 'services'>): void {
  for (const spec of manifest.services.filter(onSwarm)) {
    for (const name of spec.dependsOn) {
      const dep = manifest.services.find((s) => s.name === name);
      const reached = dep && (addressable(dep) || dep.kind === 'postgres' || dep.kind === 'redis');
      if (!dep || onSwarm(dep) || !reached || spec.env[`${discoveryPrefix(name)}_URL`] !== undefined) continue;
      throw new BerthError(
        'invalid',
        'swarm_host_dependency',
        `service ${spec.name} runs on the swarm and depends on ${name}, which Berth runs on this host (${dep.kind} on 127.0.0.1): no task on the swarm's nodes can reach it`,
        {
          hint: `run ${name} from an image (image: with container_port:) so it is a swarm service too, or set services.${spec.name}.env.${discoveryPrefix(name)}_URL to an address the nodes reach`,
        },
      );
    }
    const volume = spec.container?.volumes[0];
    const pinned = spec.swarm?.placement?.constraints?.some((c) => ONE_NODE.test(c)) ?? false;
    if (volume && !pinned)
      throw new BerthError(
        'invalid',
        'swarm_volume_unpinned',
        `service ${spec.name}: volume ${volume.name} (${volume.target}) would be a separate, empty volume on each node of the swarm its tasks land on`,
        {
          hint: `pin the service to one node (services.${spec.name}.placement: { constraints: ["node.hostname==<node>"] }, or node.id==), or keep its data out of volumes:`,
        },
      );
  }
}
