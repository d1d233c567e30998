import type { ClusterNodeView, ClusterView } from '../core/cluster-results.js';
import { BerthError } from '../core/errors.js';
import { ContainerEngine } from '../runtime/container-engine.js';
import { SwarmClient } from '../runtime/swarm-client.js';
import type { NodeAvailability, SwarmNode } from '../runtime/swarm-types.js';
import { compareText } from '../core/names.js';

/**
 * `berth cluster`: the Docker Swarm of this host's container engine (the host setting container_engine). Making
 * one (init), joining one, its nodes and their availability. An engine that is already a manager of a swarm is
 * attached as it is: there is nothing to set besides the engine.
 */
export class Cluster {
  readonly #swarm: SwarmClient;

  constructor(swarm: SwarmClient) {
    this.#swarm = swarm;
  }

  /** The cluster of the host's engine; without one, every call says how to configure one. */
  static ofEngine(engine: ContainerEngine | undefined): Cluster {
    return new Cluster(new SwarmClient(engine ?? new ContainerEngine(undefined)));
  }

  /** Makes this host's engine the first manager of a new swarm, advertised at `advertise`; the swarm as it is then. */
  async init(advertise: string, listen?: string): Promise<ClusterView> {
    await this.#swarm.init({ advertise, ...(listen ? { listen } : {}) });
    return this.view();
  }

  /** Joins this host's engine to the swarm a manager at `manager` runs, with a worker's or a manager's token. */
  async join(manager: string, token: string, advertise: string): Promise<{ joined: string; state: string }> {
    if (!/^SWMTKN-1-[0-9a-z]+-[0-9a-z]+$/.test(token))
      throw new BerthError('invalid', 'bad_join_token', 'the join token is not a swarm join token (SWMTKN-1-...)', {
        hint: 'on a manager, `berth cluster token worker` prints the one a worker joins with',
      });
    await this.#swarm.join(manager, token, { advertise });
    const info = await this.#swarm.info();
    return { joined: manager, state: info.LocalNodeState };
  }

  async view(): Promise<ClusterView> {
    const info = await this.#swarm.requireManager();
    const nodes = await this.#swarm.nodes();
    return { nodeId: info.NodeID, nodes: nodes.map((n) => nodeView(n, info.NodeID)).sort(byRoleThenName) };
  }

  /** Drains a node (Swarm moves its tasks to the others), or makes it take tasks again (active), or pauses it. */
  async setAvailability(node: string, availability: NodeAvailability): Promise<ClusterNodeView> {
    const info = await this.#swarm.requireManager();
    return nodeView(await this.#swarm.setAvailability(node, availability), info.NodeID);
  }

  /** The token a worker or a manager joins with: a credential, only for the host's admin. */
  async token(role: 'worker' | 'manager'): Promise<string> {
    return (await this.#swarm.joinTokens())[role];
  }
}

function nodeView(n: SwarmNode, self: string): ClusterNodeView {
  return {
    id: n.ID,
    name: n.Spec.Name || n.Description.Hostname,
    hostname: n.Description.Hostname,
    role: n.Spec.Role,
    availability: n.Spec.Availability,
    state: n.Status.State,
    address: n.ManagerStatus?.Addr.replace(/:\d+$/, '') ?? n.Status.Addr,
    leader: n.ManagerStatus?.Leader === true,
    self: n.ID === self,
    engineVersion: n.Description.Engine?.EngineVersion ?? null,
  };
}

function byRoleThenName(a: ClusterNodeView, b: ClusterNodeView): number {
  return a.role === b.role ? compareText(a.name, b.name) : a.role === 'manager' ? -1 : 1;
}
