import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/**
 * The wiring of a test swarm (swarm-cluster.ts): one network namespace per node, each joined by a veth
 * link to a bridge in the test's own namespace (run the file under `unshare --net`, see the brief).
 * Every name starts with `bsw<slot>` and every address is in the slot's /20 of 10.231.0.0/16, so two
 * test files (each with its slot from net-slots.ts) never meet, and a killed test's leftovers of a slot
 * are found by name and removed by the next one that claims it.
 */
export interface SwarmNet {
  readonly slot: number;
  /** The bridge, in the caller's namespace, at `gateway`. */
  readonly bridge: string;
  readonly gateway: string;
  readonly namespaces: readonly string[];
  /** Each node's address on the bridge, in the order of `namespaces`. */
  readonly addresses: readonly string[];
  /** The bridge's subnet (the registry's engines trust it as an insecure registry). */
  readonly subnet: string;
}

/** The slot's third octets: [bridge link, engines' bridge, engines' local networks (/23), swarm overlays (/21)]. */
export function slotOctets(slot: number): { link: number; bip: number; local: number; overlay: number } {
  const b = slot * 16;
  return { link: b, bip: b + 1, local: b + 2, overlay: b + 8 };
}

export function ip(args: readonly string[], quiet = false): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0 && !quiet) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The namespace, bridge and link names of a slot's node `i`. */
const names = (slot: number, i: number) => ({
  ns: `bsw${slot}n${i}`,
  host: `bsw${slot}v${i}`,
  peer: `bsw${slot}p${i}`,
});

/** Makes the bridge and `count` namespaces, each with eth0 on the bridge and lo up. */
export function makeSwarmNet(slot: number, count: number): SwarmNet {
  const o = slotOctets(slot);
  const bridge = `bsw${slot}br`;
  const gateway = `10.231.${o.link}.1`;
  ip(['link', 'add', bridge, 'type', 'bridge']);
  ip(['addr', 'add', `${gateway}/24`, 'dev', bridge]);
  ip(['link', 'set', bridge, 'up']);
  const namespaces: string[] = [];
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = names(slot, i);
    const address = `10.231.${o.link}.${2 + i}`;
    ip(['netns', 'add', n.ns]);
    ip(['link', 'add', n.host, 'type', 'veth', 'peer', 'name', n.peer]);
    ip(['link', 'set', n.peer, 'netns', n.ns]);
    ip(['link', 'set', n.host, 'master', bridge, 'up']);
    ip(['-n', n.ns, 'link', 'set', n.peer, 'name', 'eth0']);
    ip(['-n', n.ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    ip(['-n', n.ns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', n.ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', n.ns, 'route', 'add', 'default', 'via', gateway]);
    namespaces.push(n.ns);
    addresses.push(address);
  }
  return { slot, bridge, gateway, namespaces, addresses, subnet: `10.231.${o.link}.0/24` };
}

/** The pids of the processes in network namespace `ns` (dockerd, its containerd and shims, the registry). */
export function pidsIn(ns: string): number[] {
  const out = ip(['netns', 'pids', ns], true);
  return out
    .split('\n')
    .filter((l) => /^\d+$/.test(l.trim()))
    .map(Number);
}

export function kill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/**
 * Removes what a slot's nodes left: the processes still in their namespaces (by pid), the namespaces,
 * the links and the bridge. Safe to run on a slot with nothing of it left.
 */
export function removeSwarmNet(slot: number, count = 3): void {
  for (let i = 0; i < count; i++) {
    const n = names(slot, i);
    if (!readdirSafe('/run/netns').includes(n.ns)) continue;
    for (const pid of pidsIn(n.ns)) kill(pid);
    ip(['netns', 'del', n.ns], true);
  }
  for (let i = 0; i < count; i++) ip(['link', 'del', names(slot, i).host], true);
  ip(['link', 'del', `bsw${slot}br`], true);
}

/** Unmounts (lazily, deepest first) everything mounted under `dir`: the engines' layers and sandboxes. */
export function unmountUnder(dir: string): void {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\(\d{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))))
    .filter((p) => p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) spawnSync('umount', ['-l', p], { stdio: 'ignore' });
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
