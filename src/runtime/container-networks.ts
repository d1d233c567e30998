import type { ContainerEngine } from './container-engine.js';
import { EngineError } from './container-engine.js';
import { ensureGatewayAddress } from './network-bridge.js';

type Ensured = { readonly name: string; readonly gateway: string | undefined };

/** An app environment's network, as its containers and the proxy's gateway listeners need it. */
export interface ContainerNetwork {
  readonly name: string;
  /** The host's address on the network's bridge: where its containers reach the service addresses. */
  readonly gateway: string;
  /** The network's IPv4 subnet (CIDR): the only peers the gateway listeners accept. */
  readonly subnet: string;
}

interface EngineNetwork {
  Name: string;
  Labels?: Record<string, string> | null;
  IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] | null };
}

/**
 * The per app-environment networks of one BERTH_HOME (`berth-<home>-<app>-<env>`, bridge, labelled
 * berth.home, berth.app, berth.env): made when the first container of an environment starts, and
 * remembered with their gateway and subnet, so the route table can put each environment's service
 * addresses on its own gateway (see proxy/builtin/gateway-listener.ts). Listeners of `onAdded`
 * run, and are awaited, when an environment's network is first known (or changed): the proxy must
 * listen on the gateway before a container that uses it starts.
 */
export class ContainerNetworks {
  readonly #engine: ContainerEngine;
  readonly #home: string;
  readonly #known = new Map<string, ContainerNetwork>();
  readonly #added: Array<() => Promise<void>> = [];
  /** Networks being made, by name. */
  readonly #making = new Map<string, Promise<Ensured>>();

  constructor(engine: ContainerEngine, home: string) {
    this.#engine = engine;
    this.#home = home;
  }

  nameOf(app: string, env: string): string {
    return `berth-${this.#home}-${app}-${env}`;
  }

  /** The network of `app`/`env` if it is known (synchronous: the route table is built from it). */
  known(app: string, env: string): ContainerNetwork | undefined {
    return this.#known.get(`${app}/${env}`);
  }

  onAdded(listener: () => Promise<void>): void {
    this.#added.push(listener);
  }

  /**
   * The environment's network, made if missing; `onAdded` listeners are awaited when it is new to this
   * daemon. No gateway when the engine tells no IPv4 subnet for it: its containers then have no way to
   * the host's service addresses (their variables keep 127.0.0.1), but they run.
   */
  ensure(app: string, env: string): Promise<Ensured> {
    const name = this.nameOf(app, env);
    const pending = this.#making.get(name);
    if (pending) return pending;
    const made = this.#ensure(app, env, name).finally(() => this.#making.delete(name));
    this.#making.set(name, made);
    return made;
  }

  /**
   * One at a time per name: the engine's duplicate check is not atomic, and two networks of one
   * name (two containers of a wave starting at once) make every later start fail ("network ... is ambiguous").
   */
  async #ensure(app: string, env: string, name: string): Promise<Ensured> {
    let found = await this.#inspect(name);
    if (!found) {
      const labels = { 'berth.home': this.#home, 'berth.app': app, 'berth.env': env };
      await this.#engine
        .call('POST', '/networks/create', { Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels })
        .catch((e: unknown) => {
          if (!(e instanceof EngineError) || e.status !== 409) throw e; // made by a start beside this one
        });
      found = await this.#inspect(name);
    }
    const net = found && toNetwork(found);
    if (!net) return { name, gateway: undefined };
    const problem = await ensureGatewayAddress(this.#engine, net);
    if (problem) throw new Error(`${problem}: its containers could not reach the host's service addresses`);
    const had = this.#known.get(`${app}/${env}`);
    this.#known.set(`${app}/${env}`, net);
    if (had?.gateway !== net.gateway || had.subnet !== net.subnet) for (const l of this.#added) await l();
    return net;
  }

  /**
   * Learns every network of this BERTH_HOME from the engine (at boot, before the first route table), and
   * makes their gateways addresses of the host again where the engine has not (Podman after a reboot).
   * Returns what could not be made: the proxy cannot listen on those gateways.
   */
  async refresh(): Promise<string[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [`berth.home=${this.#home}`] }));
    const problems: string[] = [];
    for (const n of await this.#engine.call<EngineNetwork[]>('GET', `/networks?filters=${filters}`)) {
      const app = n.Labels?.['berth.app'];
      const env = n.Labels?.['berth.env'];
      const net = toNetwork(n);
      if (app === undefined || env === undefined || !net || n.Name !== this.nameOf(app, env)) continue;
      this.#known.set(`${app}/${env}`, net);
      const problem = await ensureGatewayAddress(this.#engine, net);
      if (problem) problems.push(problem);
    }
    return problems;
  }

  /** refresh(), failing after `ms`: an engine that does not answer never holds up berthd's start. */
  async refreshWithin(ms: number): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the container engine did not answer within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([this.refresh(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #inspect(name: string): Promise<EngineNetwork | undefined> {
    try {
      return await this.#engine.call<EngineNetwork>('GET', `/networks/${encodeURIComponent(name)}`);
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) return undefined;
      throw err;
    }
  }
}

function toNetwork(n: EngineNetwork): ContainerNetwork | undefined {
  const c = (n.IPAM?.Config ?? []).find((x) => x.Subnet?.includes('.') && x.Gateway !== undefined && x.Gateway !== '');
  return c?.Subnet && c.Gateway ? { name: n.Name, gateway: c.Gateway, subnet: c.Subnet } : undefined;
}
