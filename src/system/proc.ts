import { closeSync, openSync, readFileSync, readSync, readdirSync, readlinkSync } from 'node:fs';

/** What /proc/<pid>/stat says about a process. */
export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  /** R, S, D, Z (zombie), T, ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  readonly session: number;
  /** Start time in clock ticks since boot: with the pid, it identifies one process for good. */
  readonly startTicks: string;
  /** CPU used in clock ticks: user and system, its own and that of the children it has waited for. */
  readonly cpuTicks: number;
  /** Resident set size in pages (the RSS /proc/<pid>/status states in kB). */
  readonly rssPages: number;
}

/**
 * One buffer for every read of a stat file (berthd is one thread): a stat line is a few hundred bytes, so it is
 * one open, one read and one close, with no size check, no buffer per call and no second read for the end.
 */
const STAT_BUFFER = Buffer.allocUnsafeSlow(4096);

/** The text of /proc/<pid>/stat; throws when the process is gone. */
function readStat(pid: number): string {
  const fd = openSync(`/proc/${pid}/stat`, 'r');
  let n: number;
  try {
    n = readSync(fd, STAT_BUFFER, 0, STAT_BUFFER.length, 0);
  } finally {
    closeSync(fd);
  }
  // A line that fills the buffer (it never does: the comm is at most 64 bytes) is read whole the usual way.
  return n < STAT_BUFFER.length ? STAT_BUFFER.toString('utf8', 0, n) : readFileSync(`/proc/${pid}/stat`, 'utf8');
}

/** Reads /proc/<pid>/stat, or undefined when the process is gone. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readStat(pid);
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // Fields after comm start at field 3 (state): f[0]=state, f[1]=ppid, f[2]=pgrp, f[3]=session,
  // f[11..14]=utime, stime, cutime, cstime, f[19]=starttime, f[21]=rss.
  return {
    pid,
    comm,
    state: f[0] ?? '?',
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    session: Number(f[3]),
    startTicks: f[19] ?? '',
    cpuTicks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
    rssPages: Number(f[21]),
  };
}

/** True when `pid` is the same live process that started at `startTicks` (zombies count as dead). */
export function isSameProcessAlive(pid: number, startTicks: string): boolean {
  const st = procStat(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X' && st.startTicks === startTicks;
}

/**
 * Whether a process (`id` > 0) or a process group (`-pgid`) exists, zombies included: kill(id, 0),
 * one system call and no file opened. A pid may have been reused: isSameProcessAlive tells.
 */
export function signalReaches(id: number): boolean {
  try {
    process.kill(id, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function listPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** The command line as argv, or [] when unreadable. */
export function procArgv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((s, i, a) => s !== '' || i < a.length - 1);
  } catch {
    return [];
  }
}

/** One variable of a process's environment (readable for our own user, or as root). */
export function procEnvValue(pid: number, key: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return undefined;
  }
  const prefix = key + '=';
  for (const entry of text.split('\0')) if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  return undefined;
}

export function procUid(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Socket inodes held open by a process. */
export function procSocketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1] as string);
    } catch {
      // fd closed meanwhile
    }
  }
  return inodes;
}

/** Name of a uid from /etc/passwd, or the number as text. */
export function userName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (id !== undefined && Number(id) === uid) return name as string;
    }
  } catch {
    // no passwd file
  }
  return String(uid);
}
