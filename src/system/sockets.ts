import { closeSync, openSync, readSync } from 'node:fs';
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
const TIME_WAIT = '06';

/** Every listening TCP socket in this network namespace; `read` reads a /proc file whole (default: from /proc). */
export function listeners(read: (file: string) => string | undefined = readProc): Listener[] {
  return [...parseNetTcp(read('/proc/net/tcp'), false), ...parseNetTcp(read('/proc/net/tcp6'), true)].filter(
    (s) => s.state === LISTEN,
  );
}

/** The inodes of the sockets listening on `port` in one of /proc/net/tcp (IPv4) or tcp6 (IPv6, and dual-stack `::`). */
export function listenerInodes(port: number, family: 'tcp' | 'tcp6'): string[] {
  return parseNetTcp(readProc(`/proc/net/${family}`), family === 'tcp6')
    .filter((s) => s.state === LISTEN && s.port === port)
    .map((s) => s.inode);
}

export function listeningPorts(): Set<number> {
  return new Set(listeners().map((l) => l.port));
}

/**
 * Local ports a new listener could not bind: listeners, and ports held by live
 * connections (an outgoing connection's ephemeral port, say). TIME_WAIT does not count:
 * servers bind with SO_REUSEADDR.
 */
export function busyPorts(): Set<number> {
  const all = [...parseNetTcp(readProc('/proc/net/tcp'), false), ...parseNetTcp(readProc('/proc/net/tcp6'), true)];
  return new Set(all.filter((s) => s.state !== TIME_WAIT).map((s) => s.port));
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
