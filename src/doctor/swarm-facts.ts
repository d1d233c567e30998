import type { ContainerEngine } from '../runtime/container-engine.js';
import { SwarmClient } from '../runtime/swarm-client.js';
import { SwarmServices } from '../runtime/swarm-services.js';
import type { SwarmNode, SwarmService, SwarmTask } from '../runtime/swarm-types.js';

/** A task as GET /tasks gives it, with the time of its last state change (what "recently" is judged on). */
export type TimedTask = SwarmTask & {
  readonly Status: SwarmTask['Status'] & { readonly Timestamp?: string };
  readonly UpdatedAt?: string;
};

/** What doctor reads of the swarm when berthd's container engine manages one: nodes, Berth's services, their tasks. */
export interface SwarmFacts {
  readonly nodes: readonly SwarmNode[];
  /** This home's services (label berth.home), each with the Berth service it is (berth.app/env/service). */
  readonly services: readonly SwarmService[];
  /** Their tasks, those Swarm keeps: running and starting ones, and the last few finished per slot. */
  readonly tasks: readonly TimedTask[];
}

/**
 * The swarm as one read: one list of nodes, one of this home's services, one of their tasks (filtered by the
 * services' ids), whatever the number of services. Undefined when the engine is in no swarm, is a worker (only
 * managers can answer), or does not answer: doctor then has no cluster to look at, which is no finding.
 * `labels` narrows the services (`berth ps <app>`: berth.app).
 */
export async function readSwarm(
  engine: ContainerEngine,
  home: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<SwarmFacts | undefined> {
  const client = new SwarmClient(engine);
  const info = await client.info().catch(() => undefined);
  if (info?.LocalNodeState !== 'active' || !info.ControlAvailable) return undefined;
  const [nodes, services] = await Promise.all([
    engine.call<SwarmNode[]>('GET', '/nodes'),
    new SwarmServices(engine).list({ ...labels, 'berth.home': home }),
  ]);
  const ids = new Set(services.map((s) => s.ID));
  const byService = encodeURIComponent(JSON.stringify({ service: [...ids] }));
  // A service removed between the two reads fails the filtered list (the engine resolves each id): then all tasks.
  const tasks = ids.size
    ? await engine
        .call<TimedTask[]>('GET', `/tasks?filters=${byService}`)
        .catch(async () => (await engine.call<TimedTask[]>('GET', '/tasks')).filter((t) => ids.has(t.ServiceID)))
    : [];
  return { nodes, services, tasks };
}

/** A node as `berth cluster ls` names it (its swarm name, else its hostname). */
export function nodeName(n: SwarmNode): string {
  return n.Spec.Name || n.Description.Hostname;
}

/** Where the edge reaches a node's published ports: a manager's advertised address, else the one it joined from. */
export function nodeAddress(n: SwarmNode): string {
  return n.ManagerStatus?.Addr.replace(/:\d+$/, '') ?? n.Status.Addr;
}

/** When the task last changed state, in ms (0 when Swarm did not say). */
export function taskTime(t: TimedTask): number {
  const at = Date.parse(t.Status.Timestamp ?? t.UpdatedAt ?? '');
  return Number.isNaN(at) ? 0 : at;
}
