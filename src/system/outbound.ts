import { isIP } from 'node:net';
import { BerthError } from '../core/errors.js';

/** node:dns is loaded by the first outbound call, not with the modules that import this one (berthd's start). */
const lookup = async (host: string, options: { all: true }) =>
  (await import('node:dns/promises')).lookup(host, options);

/**
 * Outbound targets Berth itself contacts (git remotes it fetches, notification URLs):
 * none on loopback, link-local (cloud metadata at 169.254.169.254), private or otherwise
 * internal addresses, unless the host settings allow them (`outbound_allow`: addresses,
 * CIDR ranges or host names). A name is checked by every address it resolves to.
 */
export function internalReason(ip: string): string | undefined {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (isIP(bare) === 4) return v4Reason(bare);
  const bytes = isIP(bare) === 6 ? v6Bytes(bare) : undefined;
  if (!bytes) return 'not an address';
  const embedded = embeddedV4(bytes);
  if (embedded !== undefined) return v4Reason(embedded) ?? undefined;
  if (bytes.every((b) => b === 0)) return 'unspecified';
  if (bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1) return 'loopback';
  if (bytes[0] === 0xfe && ((bytes[1] as number) & 0xc0) === 0x80) return 'link-local';
  if (((bytes[0] as number) & 0xfe) === 0xfc) return 'private (unique local)';
  if (bytes[0] === 0xfe && ((bytes[1] as number) & 0xc0) === 0xc0) return 'private (site-local)';
  if (bytes[0] === 0xff) return 'multicast';
  return undefined;
}

function v4Reason(v4: string): string | undefined {
  const [a, b] = v4.split('.').map(Number) as [number, number];
  if (a === 127) return 'loopback';
  if (a === 0) return 'unspecified';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 169 && b === 254) return 'link-local';
  if (a === 100 && b >= 64 && b <= 127) return 'shared (carrier-grade NAT)';
  if (a === 198 && (b === 18 || b === 19)) return 'benchmarking';
  if (a >= 224) return 'multicast or reserved';
  return undefined;
}

/** The 16 bytes of an IPv6 address in any textual form (::, embedded dotted quad). */
function v6Bytes(ip: string): number[] | undefined {
  let text = ip.toLowerCase();
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const parts = (quad[1] as string).split('.').map(Number);
    text =
      text.slice(0, -(quad[1] as string).length) +
      `${(((parts[0] as number) << 8) | (parts[1] as number)).toString(16)}:${(((parts[2] as number) << 8) | (parts[3] as number)).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.flatMap((g) => {
    const n = parseInt(g || '0', 16);
    return [n >> 8, n & 0xff];
  });
}

/** IPv4 carried inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16). */
function embeddedV4(b: number[]): string | undefined {
  const quad = (o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return quad(12);
  if (zeros(0, 12) && !(zeros(12, 15) && (b[15] === 0 || b[15] === 1))) return quad(12);
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return quad(12);
  if (b[0] === 0x20 && b[1] === 0x02) return quad(2);
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
export async function assertOutboundHost(
  host: string,
  allow: readonly string[],
  what: string,
  resolve = (h: string) => lookup(h, { all: true }).then((r) => r.map((a) => a.address)),
): Promise<void> {
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
    if (why && !allow.some((a) => a === ip || inCidr(ip.replace(/^::ffff:/, ''), a))) {
      throw new BerthError(
        'forbidden',
        'outbound_internal',
        `${what}: ${host} is ${why === 'loopback' || why === 'private' ? 'a ' : ''}${why} address (${ip}); Berth does not call internal addresses`,
        { hint: `if this is intended, allow it in config.yaml: outbound_allow: ["${isIP(bare) ? bare : host}"]` },
      );
    }
  }
}

/**
 * A git remote URL's host, or undefined for a remote on this machine (a path, file://),
 * which is no outbound call. scp-like "git@host:path" counts as ssh.
 */
export function gitRemoteHost(url: string): string | undefined {
  if (url.startsWith('/') || url.startsWith('./') || url.startsWith('../') || url.startsWith('file://'))
    return undefined;
  const scp = /^(?:[^@/\s]+@)?(\[[^\]]+\]|[^:/\s]+):(?!\/\/)/.exec(url);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return scp[1];
  try {
    return new URL(url).hostname || undefined;
  } catch {
    throw new BerthError('invalid', 'bad_remote', `git remote ${JSON.stringify(url)} is not a URL Berth understands`);
  }
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | Array<{ address: string; family: number }>,
  family?: number,
) => void;

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
