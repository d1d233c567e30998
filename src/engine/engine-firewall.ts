import { readFileSync } from 'node:fs';
import type { ContainerEngine } from '../runtime/container-engine.js';
import { runCommand } from '../system/command.js';

/**
 * Whether Docker keeps one bridge network from another. Its isolation rules live in the host's
 * netfilter tables, and the Engine API does not say whether it writes them (`GET /info` reads the
 * same with `--iptables=false`), so they are looked for where dockerd puts them: the DOCKER-USER
 * chain of iptables' filter table (every dockerd with `iptables: true` makes it at start), or the
 * `ip docker-bridges` table of its nftables backend (Docker 29). berthd talks to the engine over a
 * local socket, so it shares the engine's network namespace.
 */
export interface EngineFirewall {
  /** False: dockerd writes no firewall rules; undefined: no way to tell here (no iptables or nft program). */
  readonly rules: boolean | undefined;
  /** net.ipv4.ip_forward: with it on and no rules, a container reaches any other network by address. */
  readonly forwarding: boolean;
}

/** The firewall facts of a Docker engine; undefined for Podman, whose networks are its own doing. */
export async function engineFirewall(engine: ContainerEngine): Promise<EngineFirewall | undefined> {
  const version = await engine.call<{ Components?: { Name?: string }[] | null }>('GET', '/version');
  if ((version.Components ?? []).some((c) => /podman/i.test(c.Name ?? ''))) return undefined;
  const forwarding = readFlag('/proc/sys/net/ipv4/ip_forward');
  const iptables = await found(['iptables', '-w', '5', '-t', 'filter', '-n', '-L', 'DOCKER-USER']);
  if (iptables) return { rules: true, forwarding };
  const nft = await found(['nft', 'list', 'table', 'ip', 'docker-bridges']);
  return { rules: nft ?? (iptables === undefined ? undefined : false), forwarding };
}

/** True when the command succeeds, false when it says no, undefined when it cannot run. */
async function found(argv: readonly string[]): Promise<boolean | undefined> {
  const env = { ...process.env, PATH: `/usr/sbin:/sbin:${process.env.PATH ?? '/usr/bin:/bin'}` };
  try {
    return (await runCommand(argv, { env, timeoutMs: 5000 })).code === 0;
  } catch {
    return undefined; // not installed
  }
}

function readFlag(file: string): boolean {
  try {
    return readFileSync(file, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}
