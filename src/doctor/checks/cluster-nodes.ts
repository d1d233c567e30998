import type { SwarmNode } from '../../runtime/swarm-types.js';
import type { Facts } from '../facts.js';
import type { Finding } from '../finding.js';
import { nodeName } from '../swarm-facts.js';

/** The ports the nodes of a swarm reach each other on: what a firewall between machines must let through. */
const SWARM_PORTS = '2377/tcp (managers), 7946/tcp+udp and 4789/udp';

/**
 * The swarm's nodes, when berthd's engine manages one: a node down (its engine gone or cut off: Swarm moved
 * its tasks elsewhere, and a manager down takes one vote from the swarm's quorum), and a node drained or
 * paused (it takes no new tasks, which is easy to forget after maintenance).
 */
export function clusterNodeChecks(f: Facts): Finding[] {
  if (!f.swarm) return [];
  const { nodes } = f.swarm;
  const out: Finding[] = [];
  for (const n of nodes) {
    const ref = nodeRef(nodes, n);
    const where = `node ${ref} (${nodeAddress(n)}, ${n.Spec.Role})`;
    const unreachable = n.ManagerStatus !== undefined && n.ManagerStatus.Reachability === 'unreachable';
    if (n.Status.State !== 'ready' || unreachable) {
      const manager = n.Spec.Role === 'manager';
      const why = (n.Status as { Message?: string }).Message;
      out.push({
        severity: manager ? 'error' : 'warning',
        code: 'cluster-node-down',
        message:
          `${where} is ${unreachable ? 'unreachable' : n.Status.State}${why ? ` (${why})` : ''}: it runs none of the swarm's tasks` +
          (manager
            ? ', and the swarm has one manager less for its quorum'
            : '; Swarm starts its tasks on the other nodes') +
          (n.Spec.Availability !== 'active'
            ? ` (it is also ${n.Spec.Availability === 'drain' ? 'drained' : 'paused'})`
            : ''),
        fix:
          `start Docker on it (systemctl start docker on ${nodeAddress(n)}); it must reach the other nodes on ${SWARM_PORTS}. ` +
          `A machine gone for good: on a manager, docker node rm --force ${n.ID.slice(0, 12)}`,
      });
      continue;
    }
    if (n.Spec.Availability === 'drain' || n.Spec.Availability === 'pause')
      out.push({
        severity: 'warning',
        code: 'cluster-node-unavailable',
        message:
          n.Spec.Availability === 'drain'
            ? `${where} is drained: Swarm runs no task on it (berth cluster drain)`
            : `${where} is paused: it keeps its tasks but takes no new ones`,
        fix: `berth cluster activate ${ref} (once its maintenance is over)`,
      });
  }
  return out;
}

/** The name `berth cluster` commands take for the node: its name when no other node has it, else its id. */
export function nodeRef(nodes: readonly SwarmNode[], n: SwarmNode): string {
  const name = nodeName(n);
  return nodes.filter((x) => nodeName(x) === name).length === 1 ? name : n.ID.slice(0, 12);
}

function nodeAddress(n: SwarmNode): string {
  return n.ManagerStatus?.Addr.replace(/:\d+$/, '') ?? n.Status.Addr;
}
