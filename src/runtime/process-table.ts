import { isSameProcessAlive, listPids, procEnvValue, procStat } from '../system/proc.js';
import type { ProcessRef } from './process-runner.js';

/** The variable that marks every process of an instance, inherited by its children. */
export const MARKER_ENV = 'BERTH_INSTANCE';

interface ProcessEntry {
  readonly pid: number;
  readonly pgrp: number;
  readonly startTicks: string;
  readonly marker: string | undefined;
}

let snapshot: { at: number; entries: ProcessEntry[] } | undefined;
let scans = 0;

/**
 * Live processes with their group and instance marker. Reading every /proc/<pid>/environ
 * is the expensive part, so callers within `maxAgeMs` of the last scan (stopping 1,000
 * instances at once, adopting them all at boot) share it. Never on a timer: only an
 * operation (stop, adoption, a `process` probe of a starting instance whose leader is gone) reads it.
 */
function processTable(maxAgeMs: number): ProcessEntry[] {
  const now = Date.now();
  if (snapshot && now - snapshot.at <= maxAgeMs) return snapshot.entries;
  scans++;
  const entries: ProcessEntry[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    const st = procStat(pid);
    if (!st || st.state === 'Z' || st.state === 'X') continue;
    entries.push({ pid, pgrp: st.pgrp, startTicks: st.startTicks, marker: procEnvValue(pid, MARKER_ENV) });
  }
  snapshot = { at: Date.now(), entries };
  return entries;
}

/** How many times this process has read the whole of /proc (for tests and benchmarks). */
export function processScans(): number {
  return scans;
}

/**
 * Every live process of an instance: everything carrying its marker (children inherit it,
 * whatever session or group they move to), plus the members of its process group `group`
 * (the leader's pid) while the leader is provably the process we started, or when the
 * caller names the group itself.
 */
export function instanceProcesses(
  leader: ProcessRef | null,
  marker: string,
  maxAgeMs = 0,
  group: number | null = null,
): ProcessRef[] {
  const inGroup = group ?? (leader !== null && isSameProcessAlive(leader.pid, leader.startTicks) ? leader.pid : null);
  return processTable(maxAgeMs)
    .filter((p) => (inGroup !== null && p.pgrp === inGroup) || p.marker === marker)
    .map((p) => ({ pid: p.pid, startTicks: p.startTicks }));
}

/** The leader (pid == process group) of the processes carrying `marker`, if one is alive. */
export function findLeaderByMarker(marker: string): ProcessRef | undefined {
  const p = processTable(1000).find((e) => e.pgrp === e.pid && e.marker === marker);
  return p && { pid: p.pid, startTicks: p.startTicks };
}
