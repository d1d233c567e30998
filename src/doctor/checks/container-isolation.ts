import type { Facts } from '../facts.js';
import type { Finding } from '../finding.js';

const FIX =
  'run dockerd with its default `iptables: true` (remove `"iptables": false` from /etc/docker/daemon.json, or --iptables=false from its command line), then restart it';

/**
 * Docker without its firewall rules: each app environment's network is then apart from the
 * others only while the kernel forwards nothing between them (README, "Isolation and users").
 * Looked at only when a current release runs containers on Docker (see engine-firewall.ts).
 */
export function containerIsolationChecks(f: Facts): Finding[] {
  const fw = f.engineFirewall;
  if (!fw || fw.rules !== false) return [];
  if (fw.forwarding)
    return [
      {
        severity: 'warning',
        code: 'container_isolation',
        message:
          "the container engine writes no firewall rules (no DOCKER-USER chain) and the host forwards packets (net.ipv4.ip_forward=1): any app's container reaches another app's by address",
        fix: FIX,
      },
    ];
  return [
    {
      severity: 'info',
      code: 'container_isolation',
      message:
        "the container engine writes no firewall rules (no DOCKER-USER chain): apps' networks stay apart only while net.ipv4.ip_forward stays 0",
      fix: FIX,
    },
  ];
}
