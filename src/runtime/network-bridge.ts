import { createServer } from 'node:net';
import { isGatewayNetwork } from '../proxy/builtin/gateway-listener.js';
import { runCommand, type CommandResult } from '../system/command.js';
import type { ContainerEngine } from './container-engine.js';
import { EngineError } from './container-engine.js';

/** A network's name on the engine, its gateway and its IPv4 subnet (CIDR). */
interface BridgeNetwork {
  readonly name: string;
  readonly gateway: string;
  readonly subnet: string;
}

/** A Linux interface name: at most 15 bytes, nothing a command line could read as an option. */
const INTERFACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

/**
 * Makes a container network's gateway an address of this host before any container joins it.
 * dockerd makes a bridge network's interface, gateway address included, when the network is
 * created; Podman only when the first container joins it. But the proxy must listen on the gateway
 * before that container starts (it may call a host service as it starts), and the host cannot bind
 * an address it does not have (EADDRNOTAVAIL). So when the gateway is not on the host, Berth makes
 * the bridge the engine will use: the interface Podman named for the network (its libpod API, v4.0.0
 * and later, tells it), with the gateway address, up. Podman 4.3's CNI bridge plugin takes an existing
 * bridge that holds its gateway address as it is (tested: test/containers-podman; netavark is not
 * tested here), and `podman network rm` removes it.
 *
 * Not IP_FREEBIND (a socket bound to an address the host does not have yet): Node cannot set it on a
 * listening socket. Not the sysctl net.ipv4.ip_nonlocal_bind: it would hold for every socket of the host.
 * Returns a problem to report when the gateway is missing and cannot be made; undefined when it is there.
 */
export async function ensureGatewayAddress(engine: ContainerEngine, net: BridgeNetwork): Promise<string | undefined> {
  if (await canBind(net.gateway)) return undefined;
  if (!isGatewayNetwork({ gateway: net.gateway, subnet: net.subnet }))
    return `network ${net.name} has no gateway Berth would put on the host (${net.gateway} in ${net.subnet})`;
  const bridge = await bridgeName(engine, net.name);
  if (!bridge)
    return `the gateway ${net.gateway} of network ${net.name} is not an address of this host, and the engine does not name its bridge`;
  const bits = net.subnet.split('/')[1];
  let kind = await linkKind(bridge);
  if (kind === undefined) {
    const problem = await ip(['link', 'add', 'name', bridge, 'type', 'bridge']);
    kind = await linkKind(bridge);
    if (kind === undefined)
      return `making the bridge ${bridge} of network ${net.name}: ${problem ?? 'it is not there'}`;
  }
  if (kind !== 'bridge')
    return `${bridge}, the interface of network ${net.name}, is not a bridge (${kind || 'no kind'})`;
  for (const args of [
    ['addr', 'replace', `${net.gateway}/${bits}`, 'dev', bridge],
    ['link', 'set', 'dev', bridge, 'up'],
  ]) {
    const problem = await ip(args);
    if (problem) return `making the bridge ${bridge} of network ${net.name}: ${problem}`;
  }
  return undefined;
}

/**
 * Whether the host can listen on `address` (a throwaway socket on port 0): what the proxy needs. Not
 * os.networkInterfaces(): it leaves out an interface without carrier, as a bridge no container has joined yet.
 */
function canBind(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: address, port: 0, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The bridge interface's name as Podman's own API tells it (dockerd has no such endpoint: 404). */
async function bridgeName(engine: ContainerEngine, network: string): Promise<string | undefined> {
  try {
    const n = await engine.call<{ network_interface?: string; driver?: string }>(
      'GET',
      `/v4.0.0/libpod/networks/${encodeURIComponent(network)}/json`,
    );
    const name = n.network_interface;
    return n.driver === 'bridge' && typeof name === 'string' && INTERFACE.test(name) ? name : undefined;
  } catch (err) {
    if (err instanceof EngineError) return undefined;
    throw err;
  }
}

/**
 * The kind of the interface `name` in berthd's network namespace ('' for a plain device), undefined
 * when there is none. Asked by netlink (`ip`), not /sys/class/net: sysfs shows the namespace it was mounted in.
 */
async function linkKind(name: string): Promise<string | undefined> {
  const r = await run(['-j', '-d', 'link', 'show', 'dev', name]).catch(() => undefined);
  if (r?.code !== 0) return undefined;
  const [link] = JSON.parse(r.stdout) as { linkinfo?: { info_kind?: string } }[];
  return link ? (link.linkinfo?.info_kind ?? '') : undefined;
}

/** Runs `ip` (iproute2) with `args`; a problem when it fails. */
async function ip(args: readonly string[]): Promise<string | undefined> {
  try {
    const r = await run(args);
    return r.code === 0 ? undefined : `ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code ?? r.signal}`}`;
  } catch (err) {
    return `ip ${args.join(' ')}: ${(err as Error).message} (install iproute2)`;
  }
}

function run(args: readonly string[]): Promise<CommandResult> {
  const env = { ...process.env, PATH: `/usr/sbin:/sbin:${process.env.PATH ?? '/usr/bin:/bin'}` };
  return runCommand(['ip', ...args], { env, timeoutMs: 10_000 });
}
