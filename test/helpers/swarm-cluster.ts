import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { SwarmClient } from '../../src/runtime/swarm-client.js';
import { SwarmServices } from '../../src/runtime/swarm-services.js';
import { TestDockerd } from './dockerd.js';
import { waitFor, type TestHome } from './home.js';
import { claimNetSlot, releaseNetSlot } from './net-slots.js';
import { TestRegistry } from './registry.js';
import { kill, makeSwarmNet, pidsIn, removeSwarmNet, slotOctets, unmountUnder, type SwarmNet } from './swarm-net.js';

/** Inside the manager's namespace: nothing else listens there. */
const REGISTRY_PORT = 5000;

/** A Debian dockerd in a node's network namespace: entered with nsenter (ip netns exec remounts /sys, and dockerd fails). */
class NodeDockerd extends TestDockerd {
  constructor(
    dir: string,
    readonly ns: string,
    readonly flags: readonly string[],
  ) {
    super(dir);
  }

  protected override command(): [string, string[]] {
    const own = ['--data-root', path.join(this.dir, 'data'), '--exec-root', path.join(this.dir, 'exec')];
    const pid = ['--pidfile', path.join(this.dir, 'dockerd.pid'), '-H', `unix://${this.socket}`];
    // nsenter execs dockerd: the pid TestDockerd keeps is the daemon's.
    return ['nsenter', [`--net=/run/netns/${this.ns}`, '--', 'dockerd', ...own, ...pid, ...this.flags]];
  }
}

export interface SwarmTestNode {
  /** n0 (the manager), n1, n2: also its node name in the swarm once joined. */
  readonly name: string;
  readonly address: string;
  readonly dockerd: TestDockerd;
  readonly swarm: SwarmClient;
}

/**
 * Two or three Debian `dockerd` joined into a swarm over veth links (swarm-net.ts), with Debian's
 * `docker-registry` on the manager sharing the images built there. Their own iptables and forwarding (each
 * in its namespace), their bridges and overlays in the slot's addresses of 10.231.0.0/16. No IPVS in every
 * kernel: services publish on their tasks' nodes (swarm-spec.ts), the routing mesh is not relied on.
 * `cleanup` removes everything even after a failure: services, daemons (by pid), the processes left in the
 * namespaces, mounts, namespaces, links and the directory.
 */
export class TestSwarm {
  readonly dir: string;
  readonly nodes: SwarmTestNode[] = [];
  readonly registry: TestRegistry;
  readonly net: SwarmNet;
  readonly #record: string;

  constructor(count = 3) {
    const slot = claimNetSlot();
    this.#record = path.join(tmpdir(), `berth-test-swarm-${slot}`);
    cleanLeftovers(slot, this.#record);
    this.dir = mkdtempSync(path.join(tmpdir(), 'bsw-'));
    writeFileSync(this.#record, this.dir);
    this.net = makeSwarmNet(slot, count);
    const o = slotOctets(slot);
    const flags = [
      ...['--bip', `10.231.${o.bip}.1/24`, '--default-address-pool', `base=10.231.${o.local}.0/23,size=24`],
      ...['--insecure-registry', this.net.subnet, '--log-level', 'warn'],
    ];
    this.net.namespaces.forEach((ns, i) => {
      const dockerd = new NodeDockerd(path.join(this.dir, `n${i}`), ns, flags);
      this.nodes.push({
        name: `n${i}`,
        address: this.net.addresses[i]!,
        dockerd,
        swarm: new SwarmClient(dockerd.engine),
      });
    });
    const m = this.manager;
    this.registry = new TestRegistry(path.join(this.dir, 'registry'), REGISTRY_PORT, 'swarm', 'swarm-registry-pw', {
      host: m.address,
      netns: this.net.namespaces[0]!,
    });
  }

  get manager(): SwarmTestNode {
    return this.nodes[0]!;
  }

  /** Starts the engines and the registry; with `form`, makes the swarm (init on n0, the others join). */
  async start(form = true): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.dockerd.start()));
    await this.registry.start();
    if (!form) return;
    const o = slotOctets(this.net.slot);
    await this.manager.swarm.init(
      { advertise: this.manager.address, listen: `${this.manager.address}:2377` },
      { pools: [`10.231.${o.overlay}.0/21`], subnetSize: 24 },
    );
    const { worker } = await this.manager.swarm.joinTokens();
    for (const n of this.nodes.slice(1)) await this.join(n, worker);
    await this.nameNodes();
  }

  /** Joins node `n` to the manager's swarm with `token`. */
  async join(n: SwarmTestNode, token: string): Promise<void> {
    await n.swarm.join(this.manager.address, token, { advertise: n.address, listen: `${n.address}:2377` });
  }

  /** All nodes share this machine's hostname: each gets its name (n0, n1, ...) in the swarm, by its address. */
  async nameNodes(): Promise<void> {
    const nodes = await waitFor('every node ready in the swarm', async () => {
      const list = await this.manager.swarm.nodes();
      return list.length === this.nodes.length && list.every((n) => n.Status.State === 'ready') ? list : undefined;
    });
    for (const node of nodes) {
      const mine = this.nodes.find(
        (n) => n.address === node.Status.Addr || node.ManagerStatus?.Addr.startsWith(`${n.address}:`),
      );
      if (!mine) throw new Error(`node ${node.ID} at ${node.Status.Addr} is none of ${this.net.addresses.join(', ')}`);
      await this.manager.dockerd.engine.call('POST', `/nodes/${node.ID}/update?version=${node.Version.Index}`, {
        ...node.Spec,
        Name: mine.name,
      });
    }
  }

  /** Builds a busybox httpd image (TestDockerd.buildImage) on the manager, pushes it, returns it by registry digest. */
  async publishImage(name: string, files: Record<string, string>): Promise<string> {
    const tag = `${this.registry.address}/${name}:latest`;
    await this.manager.dockerd.buildImage(tag, files);
    await this.registry.push(this.manager.dockerd.engine, tag);
    const inspect = await this.manager.dockerd.engine.call<{ RepoDigests: string[] }>(
      'GET',
      `/images/${encodeURIComponent(tag)}/json`,
    );
    const digest = inspect.RepoDigests.find((d) => d.startsWith(`${this.registry.address}/${name}@`));
    if (!digest) throw new Error(`no registry digest for ${tag}: ${inspect.RepoDigests.join(', ')}`);
    return digest;
  }

  get login(): { username: string; password: string } {
    return { username: this.registry.user, password: this.registry.password };
  }

  services(): SwarmServices {
    return new SwarmServices(this.manager.dockerd.engine);
  }

  /** Removes everything, each step on its own so one failing does not leave the rest. */
  async cleanup(): Promise<void> {
    const containerPids = (await Promise.all(this.nodes.map((n) => containerPidsOf(n.dockerd)))).flat();
    await this.removeServices().catch(() => undefined);
    this.registry.stop();
    await Promise.all(this.nodes.map((n) => n.dockerd.stop().catch(() => undefined)));
    for (const ns of this.net.namespaces) for (const pid of pidsIn(ns)) kill(pid);
    for (const pid of containerPids) kill(pid);
    unmountUnder(this.dir);
    removeSwarmNet(this.net.slot, this.nodes.length);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.#record, { force: true });
    releaseNetSlot(this.net.slot);
  }

  /** Every service on the swarm, and then its containers on every node (Swarm stops them as it removes the tasks). */
  async removeServices(): Promise<void> {
    const services = this.services();
    for (const s of await services.list({})) await services.remove(s.ID);
    await waitFor('the tasks gone from every node', async () => {
      const counts = await Promise.all(
        this.nodes.map(async (n) => (await n.dockerd.engine.call<unknown[]>('GET', '/containers/json')).length),
      );
      return counts.every((c) => c === 0);
    });
  }
}

/** The pids of the containers an engine runs (best effort: a dead engine has none to tell). */
async function containerPidsOf(d: TestDockerd): Promise<number[]> {
  try {
    const list = await d.engine.call<{ Id: string }[]>('GET', '/containers/json');
    const pids = await Promise.all(
      list.map(
        async (c) => (await d.engine.call<{ State: { Pid: number } }>('GET', `/containers/${c.Id}/json`)).State.Pid,
      ),
    );
    return pids.filter((p) => p > 0);
  } catch {
    return [];
  }
}

/** What a killed test left in this slot: its namespaces' processes, mounts, links and directory. */
function cleanLeftovers(slot: number, record: string): void {
  removeSwarmNet(slot);
  let dir: string | undefined;
  try {
    dir = readFileSync(record, 'utf8').trim();
  } catch {
    return;
  }
  if (!dir.startsWith(path.join(tmpdir(), 'bsw-'))) return;
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** A test file's swarm: started before its tests (formed unless `form` is false), removed after them. */
export function withSwarm(swarm: TestSwarm, form = true): void {
  before(() => swarm.start(form));
  after(() => swarm.cleanup());
}

/** Starts the swarm and points `home`'s berthd at its manager (scheduler: swarm); its directory made, berthd not started. */
export async function startSwarmHome(swarm: TestSwarm, home: TestHome): Promise<void> {
  await swarm.start();
  home.env.BERTH_CONTAINER_ENGINE = `unix://${swarm.manager.dockerd.socket}`;
  home.env.BERTH_SCHEDULER = 'swarm';
  mkdirSync(home.home, { recursive: true });
}

/** After a file of deploys on a swarm: the home (and its berthd) removed, then the swarm, even when the first fails. */
export async function cleanupSwarmHome(swarm: TestSwarm | undefined, home: TestHome): Promise<void> {
  try {
    await home.cleanup();
  } finally {
    await swarm?.cleanup();
  }
}
