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

let pageBytes: number | undefined;

/**
 * The size of a memory page (stat's RSS is in pages): AT_PAGESZ (6) from this process's auxiliary vector, pairs
 * of 64-bit words; 4 KiB if it cannot be read. Read once.
 */
export function pageSize(): number {
  if (pageBytes !== undefined) return pageBytes;
  pageBytes = 4096;
  try {
    const auxv = readFileSync('/proc/self/auxv');
    for (let at = 0; at + 16 <= auxv.length; at += 16)
      if (auxv.readBigUInt64LE(at) === 6n) {
        pageBytes = Number(auxv.readBigUInt64LE(at + 8));
        break;
      }
  } catch {
    // not Linux /proc: the common size
  }
  return pageBytes;
}

/**
 * CPU and memory of the process `pid` that started at `startTicks`: one small read of its own
 * /proc/<pid>/stat, never a scan of the host's processes (the metrics sample reads one per
 * instance every interval: at 1,000 instances, a second read of `status` for VmRSS was a third of
 * berthd's idle CPU). Undefined when it is gone or the pid now names another process.
 */
export function procUsage(pid: number, startTicks: string | null): ProcUsage | undefined {
  const stat = procStat(pid);
  if (!stat || (startTicks !== null && stat.startTicks !== startTicks)) return undefined;
  return { cpuSeconds: stat.cpuTicks / TICKS, rssBytes: stat.rssPages * pageSize() };
}
