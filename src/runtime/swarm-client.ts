import { BerthError } from '../core/errors.js';
import { EngineError, type ContainerEngine } from './container-engine.js';
import type { NodeAvailability, SwarmInfo, SwarmNode } from './swarm-types.js';

/** The swarm port managers listen on (raft and the workers' dispatcher); 7946 (gossip) and 4789 (VXLAN) come with it. */
export const SWARM_PORT = 2377;

/** Where init or join makes the node listen and what address it gives the others: an IP, a host:port, or an interface. */
export interface SwarmAddresses {
  /** The address the others reach this node at (`--advertise-addr`); required when the host has several. */
  readonly advertise: string;
  /** Where it listens; default `0.0.0.0:2377`. */
  readonly listen?: string;
}

/** Subnets Swarm gives overlay networks, instead of its default 10.0.0.0/8 in /24s. */
export interface AddressPool {
  readonly pools: readonly string[];
  readonly subnetSize: number;
}

/**
 * The swarm itself through the Engine API (the container issue's client, never the docker CLI): whether the
 * engine is in one and can manage it, init, join, leave, join tokens, and the nodes with their availability.
 */
export class SwarmClient {
  constructor(readonly engine: ContainerEngine) {}

  async info(): Promise<SwarmInfo> {
    return (await this.engine.call<{ Swarm: SwarmInfo }>('GET', '/info')).Swarm;
  }

  /** Makes this engine the first manager of a new swarm; its node id. */
  async init(addr: SwarmAddresses, pool?: AddressPool): Promise<string> {
    return this.#swarmCall('initialising the swarm', '/swarm/init', {
      ListenAddr: addr.listen ?? `0.0.0.0:${SWARM_PORT}`,
      AdvertiseAddr: addr.advertise,
      ...(pool ? { DefaultAddrPool: pool.pools, SubnetSize: pool.subnetSize } : {}),
      Spec: { Orchestration: { TaskHistoryRetentionLimit: 5 } },
    });
  }

  /** Joins the swarm a manager at `manager` (host or host:port) runs, as a worker or a manager as `token` says. */
  async join(manager: string, token: string, addr: SwarmAddresses): Promise<void> {
    await this.#swarmCall('joining the swarm', '/swarm/join', {
      ListenAddr: addr.listen ?? `0.0.0.0:${SWARM_PORT}`,
      AdvertiseAddr: addr.advertise,
      RemoteAddrs: [/:\d+$/.test(manager) ? manager : `${manager}:${SWARM_PORT}`],
      JoinToken: token,
    });
  }

  /** Leaves the swarm (`force` also for the last manager, which ends it). */
  async leave(force = false): Promise<void> {
    await this.engine.call('POST', `/swarm/leave?force=${force ? 'true' : 'false'}`);
  }

  /** The tokens a worker or a manager joins with: credentials, never logged. */
  async joinTokens(): Promise<{ worker: string; manager: string }> {
    await this.requireManager();
    const s = await this.engine.call<{ JoinTokens: { Worker: string; Manager: string } }>('GET', '/swarm');
    return { worker: s.JoinTokens.Worker, manager: s.JoinTokens.Manager };
  }

  /** Throws a clear error unless this engine is an active manager of a swarm; its info when it is. */
  async requireManager(): Promise<SwarmInfo> {
    const info = await this.info();
    if (info.LocalNodeState !== 'active')
      throw new BerthError(
        'conflict',
        'no_swarm',
        `this host's container engine is not part of a swarm (its state: ${info.LocalNodeState}${info.Error ? `, ${info.Error}` : ''})`,
        {
          hint: "make one with `berth cluster init --advertise-addr <this host's address>`, or join one with `berth cluster join <manager>`",
        },
      );
    if (!info.ControlAvailable)
      throw new BerthError(
        'conflict',
        'not_a_manager',
        "this host's container engine is a swarm worker, not a manager",
        {
          hint: "run the command on a manager of the swarm (berth on a manager, or point container_engine at a manager's engine)",
        },
      );
    return info;
  }

  async nodes(): Promise<SwarmNode[]> {
    await this.requireManager();
    return this.engine.call<SwarmNode[]>('GET', '/nodes');
  }

  /** The node named by its id, id prefix or hostname; a clear error naming the nodes there are otherwise. */
  async node(name: string): Promise<SwarmNode> {
    const nodes = await this.nodes();
    const found =
      nodes.find((n) => n.ID === name || n.Description.Hostname === name || n.Spec.Name === name) ??
      (name.length >= 4 ? nodes.filter((n) => n.ID.startsWith(name)) : []).at(0);
    if (!found)
      throw new BerthError('not_found', 'no_such_node', `the swarm has no node "${name}"`, {
        hint: `its nodes: ${nodes.map((n) => n.Description.Hostname).join(', ')} (berth cluster ls)`,
      });
    return found;
  }

  /** Sets a node's availability (drain moves its tasks to the others); the node as it is after. */
  async setAvailability(name: string, availability: NodeAvailability): Promise<SwarmNode> {
    const n = await this.node(name);
    await this.engine.call('POST', `/nodes/${n.ID}/update?version=${n.Version.Index}`, {
      ...n.Spec,
      Availability: availability,
    });
    return this.node(n.ID);
  }

  async #swarmCall(what: string, path: string, body: unknown): Promise<string> {
    try {
      return await this.engine.call<string>('POST', path, body);
    } catch (err) {
      if (!(err instanceof EngineError)) throw err;
      const already = err.status === 503 && /already part of a swarm/.test(err.message);
      throw new BerthError(
        already ? 'conflict' : 'failed',
        already ? 'already_in_swarm' : 'swarm_failed',
        `${what}: ${err.message}`,
        {
          hint: already
            ? 'this engine is in a swarm already: `berth cluster ls` shows it'
            : "check the addresses (--advertise-addr is one of this host's, the manager reachable on port 2377)",
        },
      );
    }
  }
}
