import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ListenerEntry } from '../route-table.js';
import { gatewayServer, listenOnGateway, type GatewayNetwork } from './gateway-listener.js';

/**
 * One service address: a TCP listener on 127.0.0.1 that hands each connection to the next
 * healthy instance (round robin), whatever the protocol (HTTP, gRPC, a database's). An instance
 * that refuses the connection is skipped for the next one; the client's first bytes wait meanwhile.
 */
class Listener {
  upstreams: readonly string[] = [];
  readonly server: Server;
  /** The same address on its environment's container network gateway (see gateway-listener.ts). */
  gateway: { readonly key: string; readonly server: Server } | undefined;
  readonly #open = new Set<Socket>();
  #next = 0;
  #gatewayTurn: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor() {
    this.server = createServer({ allowHalfOpen: true }, (client) => this.#accept(client));
  }

  /** Listens on `network`'s gateway too (or no more, without one); a problem to report when it cannot. */
  onGateway(network: GatewayNetwork | undefined, port: number): Promise<string | undefined> {
    const turn = this.#gatewayTurn.then(() => this.#onGateway(network, port)); // two tables never bind it twice
    this.#gatewayTurn = turn;
    return turn;
  }

  async #onGateway(network: GatewayNetwork | undefined, port: number): Promise<string | undefined> {
    const key = network && `${network.gateway}:${port} for ${network.subnet}`;
    if (this.gateway?.key === key) return undefined;
    this.gateway?.server.close();
    this.gateway = undefined;
    if (!network || !key) return undefined;
    const server = gatewayServer(network, (client) => this.#accept(client));
    try {
      await listenOnGateway(server, network, port);
      if (this.#closed)
        server.close(); // its release was retired meanwhile
      else this.gateway = { key, server };
      return undefined;
    } catch (err) {
      return `cannot listen on ${key}: ${(err as Error).message}`;
    }
  }

  #accept(client: Socket): void {
    this.#open.add(client);
    client.once('close', () => this.#open.delete(client));
    client.on('error', () => client.destroy());
    this.#dial(client, 0);
  }

  #dial(client: Socket, tried: number): void {
    const list = this.upstreams;
    if (client.destroyed) return;
    if (tried >= list.length) {
      client.destroy(); // no instance answers: the client sees the connection closed, as from a stopped server
      return;
    }
    const [host, port] = (list[this.#next++ % list.length] as string).split(':') as [string, string];
    const up = connect({ host, port: Number(port), allowHalfOpen: true });
    const refused = () => {
      up.destroy();
      this.#dial(client, tried + 1);
    };
    up.once('error', refused);
    up.once('connect', () => {
      up.off('error', refused);
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
      client.pipe(up);
      up.pipe(client);
    });
  }

  /** Stops accepting and ends the connections it carries (its release is retired). */
  close(): void {
    this.#closed = true;
    this.server.close();
    this.gateway?.server.close();
    for (const s of this.#open) s.destroy();
  }
}

/** The builtin proxy's service addresses, kept equal to the table's `listeners`. */
export class ServiceListeners {
  readonly #byPort = new Map<number, Listener>();
  /** Ports that could not be bound, already reported: tried again with every table, reported no more. */
  readonly #failing = new Set<number>();
  /** The same for the gateways of container networks. */
  readonly #failingGateway = new Set<number>();

  /**
   * Opens the listeners the table adds, closes the ones it drops, and gives every listener its
   * current instances. Resolves once each new one listens; returns what newly could not be bound
   * (so the deploy that added it fails, while a port lost later does not block every other change).
   */
  async apply(entries: readonly ListenerEntry[]): Promise<string[]> {
    const wanted = new Map(entries.map((e) => [e.port, e]));
    for (const [port, l] of this.#byPort) {
      if (wanted.has(port)) continue;
      l.close();
      this.#byPort.delete(port);
    }
    for (const port of this.#failing) if (!wanted.has(port)) this.#failing.delete(port);
    for (const port of this.#failingGateway) if (!wanted.has(port)) this.#failingGateway.delete(port);
    const problems: string[] = [];
    await Promise.all(
      entries.map(async (e) => {
        const had = this.#byPort.get(e.port);
        if (had) had.upstreams = e.upstreams;
        const l = had ?? new Listener();
        if (!had) {
          l.upstreams = e.upstreams;
          this.#byPort.set(e.port, l); // before it listens: a table arriving meanwhile finds it
          try {
            await listen(l.server, e.port);
            this.#failing.delete(e.port);
          } catch (err) {
            if (this.#byPort.get(e.port) === l) this.#byPort.delete(e.port);
            if (!this.#failing.has(e.port))
              problems.push(
                `cannot listen on 127.0.0.1:${e.port}, the address of ${e.app}/${e.env}/${e.service}@r${e.release}: ${(err as Error).message}`,
              );
            this.#failing.add(e.port);
            return;
          }
        }
        const problem = await l.onGateway(e.network, e.port);
        if (problem && !this.#failingGateway.has(e.port))
          problems.push(`${problem}, the address of ${e.app}/${e.env}/${e.service}@r${e.release} for its containers`);
        if (problem) this.#failingGateway.add(e.port);
        else this.#failingGateway.delete(e.port);
      }),
    );
    return problems;
  }

  close(): void {
    for (const l of this.#byPort.values()) l.close();
    this.#byPort.clear();
  }
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1' }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
