import { readFileSync } from 'node:fs';
import { listPids, procArgv, procSocketInodes, procUid, userName } from './proc.js';

/** A TCP socket in LISTEN state, from /proc/net/tcp and tcp6. */
export interface Listener {
  readonly address: string;
  readonly port: number;
  readonly inode: string;
}

/** Who holds a port: enough to tell a user what to stop. */
export interface PortHolder {
  readonly pid: number;
  readonly user: string;
  readonly command: string;
}

const LISTEN = '0A';

/** Every listening TCP socket in this network namespace. */
export function listeners(): Listener[] {
  return [...parseNetTcp('/proc/net/tcp', false), ...parseNetTcp('/proc/net/tcp6', true)];
}

export function listeningPorts(): Set<number> {
  return new Set(listeners().map((l) => l.port));
}

function parseNetTcp(file: string, v6: boolean): Listener[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN) continue;
    const [hexAddr, hexPort] = (f[1] as string).split(':') as [string, string];
    out.push({ address: v6 ? hexAddr : decodeV4(hexAddr), port: parseInt(hexPort, 16), inode: f[9] as string });
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
  const inodes = new Set(listeners().filter((l) => l.port === port).map((l) => l.inode));
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

/** True when `pid` itself holds a listening socket on `port`. */
export function pidListensOn(pid: number, port: number): boolean {
  const inodes = listeners().filter((l) => l.port === port).map((l) => l.inode);
  if (inodes.length === 0) return false;
  const held = procSocketInodes(pid);
  return inodes.some((i) => held.has(i));
}

export function describeHolders(port: number, holders: readonly PortHolder[]): string {
  if (holders.length === 0) return `port ${port} is in use by a process we cannot see`;
  return holders.map((h) => `port ${port} is held by pid ${h.pid} (user ${h.user}): ${h.command || '?'}`).join('; ');
}
