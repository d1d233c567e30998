import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { BerthError } from '../core/errors.js';

/**
 * Outbound targets Berth itself contacts (git remotes it fetches, notification URLs):
 * none on loopback, link-local (cloud metadata at 169.254.169.254), private or otherwise
 * internal addresses, unless the host settings allow them (`outbound_allow`: addresses,
 * CIDR ranges or host names). A name is checked by every address it resolves to.
 */
export function internalReason(ip: string): string | undefined {
  const v4 = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  if (isIP(v4) === 4) {
    const [a, b] = v4.split('.').map(Number) as [number, number];
    if (a === 127) return 'loopback';
    if (a === 0) return 'unspecified';
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
    if (a === 169 && b === 254) return 'link-local';
    if (a === 100 && b >= 64 && b <= 127) return 'shared (carrier-grade NAT)';
    if (a >= 224) return 'multicast or reserved';
    return undefined;
  }
  const x = ip.toLowerCase();
  if (x === '::1') return 'loopback';
  if (x === '::') return 'unspecified';
  if (/^fe[89ab]/.test(x)) return 'link-local';
  if (/^f[cd]/.test(x)) return 'private (unique local)';
  if (x.startsWith('ff')) return 'multicast';
  return undefined;
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/') as [string, string | undefined];
  if (isIP(ip) !== 4 || isIP(base) !== 4) return ip === base;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const n = (s: string) => s.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (n(ip) & mask) === (n(base) & mask);
}

/** Throws unless every address of `host` is public or allowed. */
export async function assertOutboundHost(host: string, allow: readonly string[], what: string, resolve = (h: string) => lookup(h, { all: true }).then((r) => r.map((a) => a.address))): Promise<void> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (allow.includes(bare)) return;
  let addresses: string[];
  try {
    addresses = isIP(bare) ? [bare] : await resolve(bare);
  } catch {
    throw new BerthError('invalid', 'outbound_unresolvable', `${what}: cannot resolve ${host}`);
  }
  for (const ip of addresses) {
    const why = internalReason(ip);
    if (why && !allow.some((a) => inCidr(ip.replace(/^::ffff:/, ''), a))) {
      throw new BerthError('forbidden', 'outbound_internal', `${what}: ${host} is ${why === 'loopback' || why === 'private' ? 'a ' : ''}${why} address (${ip}); Berth does not call internal addresses`, { hint: `if this is intended, allow it in config.yaml: outbound_allow: ["${isIP(bare) ? bare : host}"]` });
    }
  }
}

/**
 * A git remote URL's host, or undefined for a remote on this machine (a path, file://),
 * which is no outbound call. scp-like "git@host:path" counts as ssh.
 */
export function gitRemoteHost(url: string): string | undefined {
  if (url.startsWith('/') || url.startsWith('./') || url.startsWith('../') || url.startsWith('file://')) return undefined;
  const scp = /^(?:[^@/\s]+@)?(\[[^\]]+\]|[^:/\s]+):(?!\/\/)/.exec(url);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return scp[1];
  try {
    return new URL(url).hostname || undefined;
  } catch {
    throw new BerthError('invalid', 'bad_remote', `git remote ${JSON.stringify(url)} is not a URL Berth understands`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;

/**
 * A `lookup` for node:http(s) that checks the addresses a name resolves to at connect time,
 * so a name cannot resolve to a public address for the check and an internal one for the
 * connection (DNS rebinding).
 */
export function checkedLookup(allow: readonly string[], what: string) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    lookup(hostname, { all: true })
      .then(async (addresses) => {
        await assertOutboundHost(hostname, allow, what, async () => addresses.map((a) => a.address));
        if (options.all) callback(null, addresses);
        else callback(null, (addresses[0] as { address: string }).address, (addresses[0] as { family: number }).family);
      })
      .catch((err: NodeJS.ErrnoException) => callback(err, ''));
  };
}
