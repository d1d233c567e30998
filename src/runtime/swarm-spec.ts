import { createHash } from 'node:crypto';
import type { HealthSpec } from '../config/manifest-types.js';
import { swarmHealthcheck, updatePolicies, type UpdateOptions } from './swarm-health.js';
import type { ServiceSpec } from './swarm-types.js';

/** Which Berth service of which release a Swarm service is: its labels, and how a restarted berthd finds it. */
export interface SwarmIdentity {
  /** This BERTH_HOME's marker (see daemon/main: the hash of its root), so two homes on one swarm never mix. */
  readonly home: string;
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly release: number;
}

/** Where a service's tasks may run (`placement:` of the manifest). */
export interface PlacementOptions {
  /** Swarm constraints as written, e.g. `node.labels.zone==a`. */
  readonly constraints?: readonly string[];
  /**
   * `node` (the default): Swarm's scheduler already puts the tasks of a service on the nodes that run fewest of
   * them; a node label (`node.labels.zone`) spreads them evenly over its values.
   */
  readonly spread?: string;
  /** At most this many tasks of the service on one node. */
  readonly maxPerNode?: number;
}

export interface SwarmServiceOptions {
  readonly identity: SwarmIdentity;
  /** The image, best by digest (repo@sha256:...) so every node runs the same bytes and a rollback is exact. */
  readonly image: string;
  readonly replicas: number;
  /** The port the container listens on, published on each task's node (a port its engine picks); null: none. */
  readonly port: number | null;
  readonly env?: Readonly<Record<string, string>>;
  /** Replaces the image's entrypoint; absent keeps it. */
  readonly command?: readonly string[];
  /** Replaces the image's CMD (the entrypoint's arguments); absent keeps it. */
  readonly args?: readonly string[];
  readonly health: HealthSpec;
  readonly stopTimeoutMs?: number;
  readonly placement?: PlacementOptions;
  readonly update?: UpdateOptions;
  /** Overlay networks the tasks join (their names resolve to the tasks' addresses: DNS round robin). */
  readonly networks?: readonly string[];
  /** The user[:group] the tasks run as; absent keeps the image's USER. */
  readonly user?: string;
  /** Named volumes of the task's node, by path inside. */
  readonly volumes?: readonly { readonly source: string; readonly target: string }[];
}

const MS = 1_000_000;

/** The Swarm service's name: DNS-safe, at most 63 characters, unique per home, app, environment and service. */
export function swarmServiceName(id: Omit<SwarmIdentity, 'release'>): string {
  const name = `berth-${id.home.slice(0, 8)}-${id.app}-${id.env}-${id.service}`;
  if (name.length <= 63) return name;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${name.slice(0, 50)}-${digest}`;
}

/**
 * The name of this home's app environment on the swarm: its overlay network's; with `volume`, that named
 * volume's (`_` joins it: no service name has one).
 */
export function swarmScopedName(id: Pick<SwarmIdentity, 'home' | 'app' | 'env'>, volume?: string): string {
  return `berth-${id.home.slice(0, 8)}-${id.app}-${id.env}${volume !== undefined ? `_${volume}` : ''}`;
}

/** The labels every Swarm service and task of Berth's carries. */
export function swarmLabels(id: SwarmIdentity): Record<string, string> {
  return {
    'berth.home': id.home,
    'berth.app': id.app,
    'berth.env': id.env,
    'berth.service': id.service,
    'berth.release': String(id.release),
  };
}

/**
 * The whole spec of a Berth service on a swarm. Endpoints are DNS round robin and ports are published on each
 * task's own node (PublishMode host), not through the routing mesh: Berth's edge routes to the tasks it
 * knows are healthy, and the mesh's virtual IPs need IPVS in the kernel, which not every host has.
 */
export function swarmServiceSpec(o: SwarmServiceOptions): ServiceSpec {
  const labels = swarmLabels(o.identity);
  const policies = updatePolicies(o.health, o.update);
  const check = swarmHealthcheck(o.identity.service, o.health, o.port);
  const p = o.placement ?? {};
  const spread = p.spread !== undefined && p.spread !== 'node' ? [{ Spread: { SpreadDescriptor: p.spread } }] : [];
  return {
    Name: swarmServiceName(o.identity),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: o.image,
        Labels: labels,
        ...(o.command ? { Command: o.command } : {}),
        ...(o.args ? { Args: o.args } : {}),
        ...(o.user ? { User: o.user } : {}),
        ...(o.volumes?.length
          ? { Mounts: o.volumes.map((v) => ({ Type: 'volume' as const, Source: v.source, Target: v.target })) }
          : {}),
        Env: Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`),
        ...(check ? { Healthcheck: check } : {}),
        StopGracePeriod: (o.stopTimeoutMs ?? 10_000) * MS,
      },
      RestartPolicy: { Condition: 'any', Delay: 1000 * MS },
      Placement: {
        Constraints: p.constraints ?? [],
        Preferences: spread,
        ...(p.maxPerNode !== undefined ? { MaxReplicas: p.maxPerNode } : {}),
      },
      Networks: (o.networks ?? []).map((n) => ({ Target: n, Aliases: [o.identity.service] })),
    },
    Mode: { Replicated: { Replicas: o.replicas } },
    UpdateConfig: policies.update,
    RollbackConfig: policies.rollback,
    EndpointSpec: {
      Mode: 'dnsrr',
      Ports: o.port === null ? [] : [{ Protocol: 'tcp', TargetPort: o.port, PublishMode: 'host' }],
    },
  };
}
