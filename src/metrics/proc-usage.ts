import { readFileSync } from 'node:fs';
import { procStat } from '../system/proc.js';

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
export function procUsage(pid: number, startTicks: string | null): ProcUsage | undefined {
  const stat = procStat(pid);
  if (!stat || (startTicks !== null && stat.startTicks !== startTicks)) return undefined;
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return { cpuSeconds: stat.cpuTicks / TICKS, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
}
