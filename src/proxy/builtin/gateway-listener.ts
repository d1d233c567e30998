import { isIPv4 } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';

/**
 * A service address seen from containers. A container on its app environment's bridge network
 * cannot reach the host's 127.0.0.1, so the proxy also listens on the network's gateway (the
 * host's address on that bridge) at the same port, and accepts only peers of that network's
 * subnet: another app's container can route to this gateway too (it is an address of the host),
 * and is cut off before a byte is read. Never 0.0.0.0, never an address outside the subnet.
 */
export interface GatewayNetwork {
  /** The host's IPv4 address on the bridge, e.g. 10.213.16.1. */
  readonly gateway: string;
  /** The bridge network's IPv4 subnet, e.g. 10.213.16.0/28. */
  readonly subnet: string;
}

/** True for a network the proxy may listen on: an IPv4 gateway, not 0.0.0.0 nor loopback, inside its subnet (/8 or narrower). */
export function isGatewayNetwork(n: unknown): n is GatewayNetwork {
  const g = (n as Partial<GatewayNetwork> | null)?.gateway;
  const s = (n as Partial<GatewayNetwork> | null)?.subnet;
  if (typeof g !== 'string' || typeof s !== 'string' || !isIPv4(g)) return false;
  const bits = parseCidr(s)?.bits;
  if (g === '0.0.0.0' || g.startsWith('127.') || bits === undefined || bits < 8) return false; // never "everyone"
  return inSubnet(g, s);
}

/** Whether `ip` (IPv4, or IPv4-mapped IPv6 as a socket may report it) is inside the IPv4 `cidr`. */
export function inSubnet(ip: string | undefined, cidr: string): boolean {
  const c = parseCidr(cidr);
  const a = ip === undefined ? undefined : ipv4Number(ip.replace(/^::ffff:/i, ''));
  if (c === undefined || a === undefined) return false;
  const mask = c.bits === 0 ? 0 : (~0 << (32 - c.bits)) >>> 0;
  return (a & mask) >>> 0 === (c.base & mask) >>> 0;
}

/** A server for `network` whose connections from its subnet go to `accept`; any other is destroyed at once. */
export function gatewayServer(network: GatewayNetwork, accept: (client: Socket) => void): Server {
  return createServer({ allowHalfOpen: true }, (client) => {
    if (inSubnet(client.remoteAddress, network.subnet)) accept(client);
    else client.destroy();
  });
}

/** Binds `server` on the gateway's address (only there) at `port`. */
export function listenOnGateway(server: Server, network: GatewayNetwork, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: network.gateway, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function parseCidr(cidr: string): { base: number; bits: number } | undefined {
  const [ip, bits, ...rest] = cidr.split('/');
  const base = ip === undefined ? undefined : ipv4Number(ip);
  const n = Number(bits);
  if (rest.length > 0 || base === undefined || !/^\d{1,2}$/.test(bits ?? '') || n > 32) return undefined;
  return { base, bits: n };
}

function ipv4Number(ip: string): number | undefined {
  if (!isIPv4(ip)) return undefined;
  return ip.split('.').reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}
