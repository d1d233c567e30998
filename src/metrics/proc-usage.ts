import { readFileSync } from 'node:fs';

/** Clock ticks a second in /proc/<pid>/stat (USER_HZ: 100 on every Linux architecture Node runs on). */
const TICKS = 100;

/** What one process has used, read from its own /proc files. */
export interface ProcUsage {
  /** User and system CPU seconds of the process and of its children it has waited for. */
  readonly cpuSeconds: number;
  /** Resident memory now, in bytes. */
  readonly rssBytes: number;
}

/**
 * CPU and memory of the process `pid` that started at `startTicks`: two small reads of its own
 * /proc files (stat and status), never a scan of the host's processes. Undefined when it is gone
 * or the pid now names another process.
 */
export function procUsage(pid: number, startTicks: string | null, proc = '/proc'): ProcUsage | undefined {
  try {
    const stat = readFileSync(`${proc}/${pid}/stat`, 'latin1');
    // Fields after ")" start at 3 (state): utime is field 14, stime 15, cutime 16, cstime 17, starttime 22.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (startTicks !== null && f[19] !== startTicks) return undefined;
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    const status = readFileSync(`${proc}/${pid}/status`, 'latin1');
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return { cpuSeconds: ticks / TICKS, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
  } catch {
    return undefined;
  }
}
