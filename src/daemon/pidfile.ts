import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { isSameProcessAlive, procStat } from '../system/proc.js';

/**
 * One berthd per BERTH_HOME: the pid file is created exclusively and holds pid and
 * process start time, so a stale file left by a killed daemon (or a reused pid) is told
 * apart from a live daemon. Returns the live holder's pid when another daemon runs.
 */
export function acquirePidFile(file: string): { ok: true } | { ok: false; pid: number } {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid} ${procStat(process.pid)?.startTicks ?? ''}\n`);
      closeSync(fd);
      return { ok: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readHolder(file);
    if (holder && isSameProcessAlive(holder.pid, holder.startTicks)) return { ok: false, pid: holder.pid };
    if (!holder && Date.now() - mtime(file) < 5000) return { ok: false, pid: 0 }; // another starter is writing it
    try {
      unlinkSync(file);
    } catch {
      // another starter removed it first
    }
  }
  throw new Error(`could not take ${file}: it keeps coming back`);
}

export function readHolder(file: string): { pid: number; startTicks: string } | undefined {
  try {
    const [pid, startTicks] = readFileSync(file, 'utf8').trim().split(' ');
    return pid ? { pid: Number(pid), startTicks: startTicks ?? '' } : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the pid file if it is still ours. */
export function releasePidFile(file: string): void {
  if (readHolder(file)?.pid === process.pid) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}
