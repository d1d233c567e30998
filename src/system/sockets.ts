import { closeSync, openSync, readSync } from 'node:fs';
import { createServer } from 'node:net';
import { listPids, procArgv, procSocketInodes, procUid, userName } from './proc.js';

/** A TCP socket in LISTEN state, from /proc/net/tcp and tcp6. */
export interface Listener {
  readonly address: string;
  readonly port: number;
  readonly inode: string;
  /** Kernel TCP state in hex: "0A" listen, "01" established, "06" time-wait... */
  readonly state: string;
}

/** Who holds a port: enough to tell a user what to stop. */
export interface PortHolder {
  readonly pid: number;
  readonly user: string;
  readonly command: string;
}

const LISTEN = '0A';

/** Every listening TCP socket in this network namespace; `read` reads a /proc file whole (default: from /proc). */
export function listeners(read: (file: string) => string | undefined = readProc): Listener[] {
  return [...parseNetTcp(read('/proc/net/tcp'), false), ...parseNetTcp(read('/proc/net/tcp6'), true)].filter(
    (s) => s.state === LISTEN,
  );
}

export function listeningPorts(): Set<number> {
  return new Set(listeners().map((l) => l.port));
}

/**
 * Whether a new listener could bind `port` now: a listen on the wildcard address (IPv6's, which is dual-stack, or
 * IPv4's on a host without IPv6), closed at once. It fails where a listener or a live connection (an outgoing one's
 * ephemeral port, say) holds the port, not for TIME_WAIT (Node binds with SO_REUSEADDR, as servers do). Unlike a read
 * of /proc/net/tcp and tcp6, which walks the kernel's whole socket table (~2.5 ms each here, more under load, on the
 * way of every deploy's wave), it costs a few system calls (issue 14).
 */
export async function canListen(port: number): Promise<boolean> {
  const v6 = await tryListen(port, '::');
  return v6 === 'unsupported' ? (await tryListen(port, '0.0.0.0')) === 'free' : v6 === 'free';
}

function tryListen(port: number, host: string): Promise<'free' | 'taken' | 'unsupported'> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL' ? 'unsupported' : 'taken'),
    );
    server.listen({ port, host }, () => server.close(() => resolve('free')));
  });
}

/** readProc's buffer: one for the process, as reads are synchronous (a new 1 MiB per read made ~12 MiB of garbage a deploy). */
let procBuffer: Buffer | undefined;

/**
 * Reads a /proc file to its end with a large buffer, so a big /proc/net/tcp (thousands of
 * TIME_WAIT sockets after a load test) takes few read(2) calls; each can cost milliseconds.
 * A seq_file may return less than asked before its end, so only a read of 0 ends it.
 */
export function readProc(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = (procBuffer ??= Buffer.allocUnsafe(1 << 20));
    const chunks: string[] = [];
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) chunks.push(buf.toString('latin1', 0, n));
    return chunks.join('');
  } finally {
    closeSync(fd);
  }
}

function parseNetTcp(text: string | undefined, v6: boolean): Listener[] {
  if (text === undefined) return [];
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [hexAddr, hexPort] = (f[1] as string).split(':') as [string, string];
    out.push({
      address: v6 ? hexAddr : decodeV4(hexAddr),
      port: parseInt(hexPort, 16),
      inode: f[9] as string,
      state: f[3] as string,
    });
  }
  return out;
}

function decodeV4(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

/**
 * The processes holding a listening socket on `port`, found by mapping the socket inode
 * to the /proc/<pid>/fd that holds it. Empty when nothing listens, or when the holder is
 * not visible to us (another user while we are not root): then `listenerInodes` still shows it.
 */
export function portHolders(port: number): PortHolder[] {
  const inodes = new Set(
    listeners()
      .filter((l) => l.port === port)
      .map((l) => l.inode),
  );
  if (inodes.size === 0) return [];
  const holders: PortHolder[] = [];
  for (const pid of listPids()) {
    const held = procSocketInodes(pid);
    if ([...inodes].some((i) => held.has(i))) {
      const uid = procUid(pid);
      holders.push({ pid, user: uid === undefined ? '?' : userName(uid), command: procArgv(pid).join(' ') });
    }
  }
  return holders;
}

export function describeHolders(port: number, holders: readonly PortHolder[]): string {
  if (holders.length === 0) return `port ${port} is in use by a process we cannot see`;
  return holders.map((h) => `port ${port} is held by pid ${h.pid} (user ${h.user}): ${h.command || '?'}`).join('; ');
}
