import { BerthError } from '../core/errors.js';
import { parseImageRef } from '../core/image-ref.js';
import { EngineError, type ContainerEngine } from './container-engine.js';
import { registryAuth, type RegistryLogin } from './image-pull.js';
import type { ServiceSpec, SwarmService, SwarmTask, UpdateState } from './swarm-types.js';

/** A running task's address for the edge: its node's address and the port its engine published. */
export interface TaskEndpoint {
  readonly task: string;
  readonly node: string;
  readonly address: string;
  readonly port: number;
}

/** Where an update stands, in Berth's words: rolled back means Swarm undid it and the old tasks serve. */
export type UpdateOutcome = 'none' | 'updating' | 'completed' | 'rolling-back' | 'rolled-back' | 'paused';

const OUTCOME: Record<UpdateState, UpdateOutcome> = {
  updating: 'updating',
  completed: 'completed',
  paused: 'paused',
  rollback_started: 'rolling-back',
  rollback_paused: 'paused',
  rollback_completed: 'rolled-back',
};

/**
 * Swarm services and their tasks through the Engine API: create, update (the whole spec, Swarm keeps the
 * previous one for its rollback), inspect, remove, and the tasks with their nodes and published ports. A
 * registry login goes to the manager in X-Registry-Auth, which hands it to the nodes that pull: never logged.
 */
export class SwarmServices {
  constructor(readonly engine: ContainerEngine) {}

  async create(spec: ServiceSpec, login?: RegistryLogin): Promise<string> {
    const r = await this.engine.call<{ ID: string }>('POST', '/services/create', spec, this.#auth(spec, login));
    return r.ID;
  }

  /** The service by name or id; undefined when there is none. */
  async inspect(name: string): Promise<SwarmService | undefined> {
    try {
      return await this.engine.call<SwarmService>('GET', `/services/${encodeURIComponent(name)}`);
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Replaces the spec of the service as it was read (its version: a concurrent change fails, never lost). */
  async update(current: SwarmService, spec: ServiceSpec, login?: RegistryLogin): Promise<void> {
    const auth = login ? '' : '&registryAuthFrom=previous-spec';
    await this.engine.call(
      'POST',
      `/services/${current.ID}/update?version=${current.Version.Index}${auth}`,
      spec,
      this.#auth(spec, login),
    );
  }

  /** Asks Swarm to go back to the previous spec (as `docker service rollback`). */
  async rollback(current: SwarmService): Promise<void> {
    if (!current.PreviousSpec)
      throw new BerthError(
        'conflict',
        'no_previous_spec',
        `service ${current.Spec.Name} has no previous spec to go back to`,
      );
    await this.engine.call(
      'POST',
      `/services/${current.ID}/update?version=${current.Version.Index}&rollback=previous&registryAuthFrom=previous-spec`,
      current.Spec,
    );
  }

  async remove(name: string): Promise<boolean> {
    try {
      await this.engine.call('DELETE', `/services/${encodeURIComponent(name)}`);
      return true;
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) return false;
      throw err;
    }
  }

  /** The services carrying all of `labels` (e.g. a home's, an app's). */
  list(labels: Readonly<Record<string, string>>): Promise<SwarmService[]> {
    const filters = JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
    return this.engine.call<SwarmService[]>('GET', `/services?filters=${encodeURIComponent(filters)}`);
  }

  /** The service's tasks (those Swarm still keeps: running, starting, and a few finished ones). */
  tasks(service: string, desired?: 'running' | 'shutdown'): Promise<SwarmTask[]> {
    const filters = JSON.stringify({ service: [service], ...(desired ? { 'desired-state': [desired] } : {}) });
    return this.engine.call<SwarmTask[]>('GET', `/tasks?filters=${encodeURIComponent(filters)}`);
  }

  /** Where the service's last update stands. */
  async outcome(name: string): Promise<UpdateOutcome> {
    const s = await this.inspect(name);
    const state = s?.UpdateStatus?.State;
    return state === undefined ? 'none' : OUTCOME[state];
  }

  /** The running tasks' endpoints: the node's address (nodeAddr: node id -> address) and the published port. */
  async endpoints(service: string, nodeAddr: ReadonlyMap<string, string>): Promise<TaskEndpoint[]> {
    const out: TaskEndpoint[] = [];
    for (const t of await this.tasks(service, 'running')) {
      const port = t.Status.PortStatus?.Ports?.[0]?.PublishedPort;
      const address = t.NodeID !== undefined ? nodeAddr.get(t.NodeID) : undefined;
      if (t.Status.State !== 'running' || port === undefined || address === undefined) continue;
      out.push({ task: t.ID, node: t.NodeID ?? '', address, port });
    }
    return out;
  }

  #auth(spec: ServiceSpec, login: RegistryLogin | undefined): Record<string, string> {
    if (!login) return {};
    const ref = parseImageRef(spec.TaskTemplate.ContainerSpec.Image);
    return { 'X-Registry-Auth': registryAuth(login, ref) };
  }
}
