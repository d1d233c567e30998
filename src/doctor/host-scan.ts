import { closeSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { MARKER_ENV } from '../runtime/process-runner.js';
import { listPids, userName } from '../system/proc.js';
import { listeners, readProc, type Listener } from '../system/sockets.js';

/** A process as doctor reports it. */
export interface ProcessFact {
  readonly pid: number;
  readonly pgrp: number;
  readonly user: string;
  readonly command: string;
  readonly marker: string | undefined;
}

/** How the scan reads /proc; a test counts the reads through it. */
export interface ProcFiles {
  /** The numeric entries of /proc. */
  pids(): number[];
  /** A /proc file whole, or undefined when it cannot be read (the process is gone, say). */
  read(file: string): string | undefined;
  /** The entries of a /proc directory (a process's fd/), [] when it cannot be read. */
  list(dir: string): string[];
  /** Where a /proc link (an fd) points, or undefined when it is gone. */
  link(file: string): string | undefined;
}

const buffer = Buffer.allocUnsafe(1 << 16);

/** The real /proc: small files through one reused buffer (open, read to the end, close). */
export const procFiles: ProcFiles = {
  pids: listPids,
  read(file) {
    if (file.startsWith('/proc/net/')) return readProc(file);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return undefined;
    }
    try {
      const chunks: string[] = [];
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0;) chunks.push(buffer.toString('latin1', 0, n));
      return chunks.join('');
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  },
  list(dir) {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
  link(file) {
    try {
      return readlinkSync(file);
    } catch {
      return undefined;
    }
  },
};

/** What doctor asks of the host. */
export interface HostScanRequest {
  /** This BERTH_HOME's marker prefix: processes whose marker starts with `<prefix>:` are its instances'. */
  readonly markerPrefix: string;
  /** Ports whose listeners are attributed to processes (leased and pinned ports, route upstreams). */
  readonly ports: ReadonlySet<number>;
  /** Pids recorded for instances: which of them still run. */
  readonly pids: readonly number[];
  /**
   * Only the markers of the requested ports' holders, not every process's: `marked` is then empty.
   * A deploy's pre-flight (one app) asks so: leftovers carry no app, so it never shows them.
   */
  readonly holdersOnly?: boolean;
  /** The listening sockets, when the caller has them (berthd asks its launcher: runtime/listen-table.ts); else read from /proc/net. */
  readonly listening?: readonly Listener[] | undefined;
}

export interface HostScan {
  /** Live processes carrying this BERTH_HOME's marker. */
  readonly marked: readonly ProcessFact[];
  /** For each requested port with a listener: the processes holding it (empty: a holder we cannot see). */
  readonly listening: ReadonlyMap<number, readonly ProcessFact[]>;
  /** Every port something listens on. */
  readonly listeningPorts: ReadonlySet<number>;
  /** Recorded pids whose process is alive (not a zombie), with its start time in clock ticks. */
  readonly startTicks: ReadonlyMap<number, string>;
}

/**
 * One look at the host for one doctor run, whatever the number of instances: /proc/net/tcp and
 * tcp6 once, each process's environ once (its marker; with `holdersOnly`, only the holders'), and
 * the rest only where it matters: the sockets of this BERTH_HOME's processes (the holders of its
 * ports, usually), and of every other process only when a port asked about has a listener none of
 * them holds (a foreign holder).
 */
export function scanHost(req: HostScanRequest, files: ProcFiles = procFiles): HostScan {
  const listening = req.listening ?? listeners((f) => files.read(f));
  const wanted = new Set(listening.filter((l) => req.ports.has(l.port)).map((l) => l.inode));
  const pids = files.pids();
  const order = new Map(pids.map((pid, i) => [pid, i]));
  const markers = new Map<number, string | undefined>();
  const marker = (pid: number) => {
    if (!markers.has(pid)) markers.set(pid, markerOf(files.read(`/proc/${pid}/environ`)));
    return markers.get(pid);
  };
  const own = req.holdersOnly ? [] : pids.filter((pid) => marker(pid)?.startsWith(`${req.markerPrefix}:`));
  const holders = new Map<string, number[]>();
  const scanned = new Set<number>();
  const scanSockets = (pid: number) => {
    scanned.add(pid);
    for (const fd of files.list(`/proc/${pid}/fd`)) {
      const inode = /^socket:\[(\d+)\]$/.exec(files.link(`/proc/${pid}/fd/${fd}`) ?? '')?.[1];
      if (inode !== undefined && wanted.has(inode)) holders.set(inode, [...(holders.get(inode) ?? []), pid]);
    }
  };
  for (const pid of [...own, ...req.pids.filter((p) => order.has(p))]) if (!scanned.has(pid)) scanSockets(pid);
  if ([...wanted].some((inode) => !holders.has(inode))) for (const pid of pids) if (!scanned.has(pid)) scanSockets(pid);

  const stats = new Map<number, Stat | undefined>();
  const stat = (pid: number) => {
    if (!stats.has(pid)) stats.set(pid, parseStat(files.read(`/proc/${pid}/stat`)));
    return stats.get(pid);
  };
  const names = new Map<number, string>(); // uid -> user name, /etc/passwd read once per uid named
  const facts = new Map<number, ProcessFact | undefined>();
  const fact = (pid: number): ProcessFact | undefined => {
    if (!facts.has(pid)) {
      const st = stat(pid);
      facts.set(pid, st && st.state !== 'Z' ? processFact(pid, st.pgrp, marker(pid), files, names) : undefined);
    }
    return facts.get(pid);
  };
  const byPort = new Map<number, ProcessFact[]>();
  for (const l of listening) {
    if (!req.ports.has(l.port)) continue;
    const held = (holders.get(l.inode) ?? []).sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
    byPort.set(l.port, [
      ...(byPort.get(l.port) ?? []),
      ...held.map(fact).filter((p): p is ProcessFact => p !== undefined),
    ]);
  }
  const startTicks = new Map<number, string>();
  for (const pid of req.pids) {
    const st = stat(pid);
    if (st && st.state !== 'Z' && st.state !== 'X') startTicks.set(pid, st.startTicks);
  }
  return {
    marked: own.map(fact).filter((p): p is ProcessFact => p !== undefined),
    listening: byPort,
    listeningPorts: new Set(listening.map((l) => l.port)),
    startTicks,
  };
}

interface Stat {
  readonly state: string;
  readonly pgrp: number;
  readonly startTicks: string;
}

function parseStat(text: string | undefined): Stat | undefined {
  if (text === undefined) return undefined;
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0] ?? '?', pgrp: Number(f[2]), startTicks: f[19] ?? '' };
}

const KEY = `${MARKER_ENV}=`;

/** The marker in a process's environ (NUL-separated), like `procEnvValue` without splitting it all. */
function markerOf(environ: string | undefined): string | undefined {
  if (!environ) return undefined;
  let start: number;
  if (environ.startsWith(KEY)) start = KEY.length;
  else {
    const at = environ.indexOf(`\0${KEY}`);
    if (at === -1) return undefined;
    start = at + 1 + KEY.length;
  }
  const end = environ.indexOf('\0', start);
  return environ.slice(start, end === -1 ? undefined : end);
}

/** A process fact whose user and command (two more files) are read only when a finding names it. */
function processFact(
  pid: number,
  pgrp: number,
  marker: string | undefined,
  files: ProcFiles,
  names: Map<number, string>,
): ProcessFact {
  let user: string | undefined;
  let command: string | undefined;
  return {
    pid,
    pgrp,
    marker,
    get user() {
      if (user === undefined) {
        const uid = /^Uid:\s+(\d+)/m.exec(files.read(`/proc/${pid}/status`) ?? '')?.[1];
        const n = uid === undefined ? undefined : Number(uid);
        user = n === undefined ? '?' : (names.get(n) ?? userName(n));
        if (n !== undefined) names.set(n, user);
      }
      return user;
    },
    get command() {
      // As procArgv: utf-8, one trailing NUL dropped, empty arguments kept.
      command ??= Buffer.from(files.read(`/proc/${pid}/cmdline`) ?? '', 'latin1')
        .toString('utf8')
        .split('\0')
        .filter((a, i, all) => a !== '' || i < all.length - 1)
        .join(' ');
      return command;
    },
  };
}
