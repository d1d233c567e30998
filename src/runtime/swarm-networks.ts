import { BerthError } from '../core/errors.js';
import { EngineError, type ContainerEngine } from './container-engine.js';

/** GET /networks/{name}: what Berth reads of a network. */
interface NetworkInfo {
  readonly Id: string;
  readonly Driver: string;
  readonly Scope: string;
}

/**
 * The overlay networks of app environments on a swarm, through the manager's Engine API. On its overlay a task
 * reaches the other services of its environment by their Swarm service names (Swarm's DNS answers with their
 * tasks' addresses, on any node), and no other environment's: one network per home, app and environment.
 */
export class SwarmNetworks {
  constructor(readonly engine: ContainerEngine) {}

  /** Makes the overlay `name` (labelled `labels`) unless it exists; a network of that name of another kind is refused. */
  async ensure(name: string, labels: Readonly<Record<string, string>>): Promise<void> {
    let found = await this.#inspect(name);
    if (!found) {
      try {
        await this.engine.call('POST', '/networks/create', {
          Name: name,
          Driver: 'overlay',
          CheckDuplicate: true,
          Attachable: false,
          Labels: labels,
        });
      } catch (err) {
        // Two deploys of the environment's services at once: the other one made it.
        if (!(err instanceof EngineError && err.status === 409)) throw err;
      }
      found = await this.#inspect(name);
    }
    // A manager with no task on the overlay yet answers its inspect nearly empty: Scope swarm, Driver "" (moby#34493).
    if (found?.Scope !== 'swarm' || (found.Driver !== 'overlay' && found.Driver !== ''))
      throw new BerthError(
        'conflict',
        'swarm_network_kind',
        `network ${name} on the swarm's manager is a ${found?.Scope ?? '?'} ${found?.Driver ?? '?'} network, not the environment's overlay`,
        { hint: `remove it (docker network rm ${name}) and deploy again` },
      );
  }

  async #inspect(name: string): Promise<NetworkInfo | undefined> {
    try {
      return await this.engine.call<NetworkInfo>('GET', `/networks/${encodeURIComponent(name)}`);
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) return undefined;
      throw err;
    }
  }
}
