import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { isSameProcessAlive, listPids, procEnvValue, procStat } from '../system/proc.js';

/** Everything needed to start one process; argv is executed without a shell. */
export interface LaunchSpec {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** stdout and stderr are appended here directly, so output survives the daemon. */
  readonly logFile: string;
  /** Run as this user and group (berthd as root: the app's own user). */
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
}

export interface Launched {
  readonly pid: number;
  readonly startTicks: string;
  readonly child: ChildProcess;
}

/** The variable that marks every process of an instance, inherited by its children. */
export const MARKER_ENV = 'BERTH_INSTANCE';

/**
 * Starts a process in its own session and process group, with its output going straight
 * to a log file. It does not depend on the daemon: the daemon may die and it runs on.
 */
export function launch(spec: LaunchSpec): Promise<Launched> {
  const fd = openSync(spec.logFile, 'a', 0o640);
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(spec.argv[0] as string, spec.argv.slice(1), {
        cwd: spec.cwd,
        env: { ...spec.env },
        detached: true,
        shell: false,
        stdio: ['ignore', fd, fd],
        ...(spec.uid !== undefined ? { uid: spec.uid, gid: spec.gid } : {}),
      });
    } catch (err) {
      closeSync(fd);
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    child.once('error', (err) => {
      closeSync(fd);
      reject(err instanceof Error ? err : new Error(String(err)));
    });
    child.once('spawn', () => {
      closeSync(fd);
      child.unref();
      const pid = child.pid as number;
      resolve({ pid, startTicks: procStat(pid)?.startTicks ?? '', child });
    });
  });
}

/** A process we started, identified for good by pid and start time. */
export interface ProcessRef {
  readonly pid: number;
  readonly startTicks: string;
}

interface ProcessEntry {
  readonly pid: number;
  readonly pgrp: number;
  readonly startTicks: string;
  readonly marker: string | undefined;
}

let snapshot: { at: number; entries: ProcessEntry[] } | undefined;

/**
 * Live processes with their group and instance marker. Reading every /proc/<pid>/environ
 * is the expensive part, so concurrent callers (stopping 100 instances at once) share one
 * scan for up to `maxAgeMs`.
 */
function processTable(maxAgeMs: number): ProcessEntry[] {
  const now = Date.now();
  if (snapshot && now - snapshot.at <= maxAgeMs) return snapshot.entries;
  const entries: ProcessEntry[] = [];
  for (const pid of listPids()) {
    const st = procStat(pid);
    if (!st || st.state === 'Z' || st.state === 'X') continue;
    entries.push({ pid, pgrp: st.pgrp, startTicks: st.startTicks, marker: procEnvValue(pid, MARKER_ENV) });
  }
  snapshot = { at: now, entries };
  return entries;
}

/**
 * Every live process of an instance: everything carrying its marker (children inherit it,
 * whatever session or group they move to), plus the leader's process group while the
 * leader is provably the process we started.
 */
export function instanceProcesses(leader: ProcessRef | null, marker: string, maxAgeMs = 0): number[] {
  const leaderAlive = leader !== null && isSameProcessAlive(leader.pid, leader.startTicks);
  return processTable(maxAgeMs)
    .filter((p) => (leaderAlive && p.pgrp === leader.pid) || p.marker === marker)
    .map((p) => p.pid);
}

/** The leader (pid == process group) of the processes carrying `marker`, if one is alive. */
export function findLeaderByMarker(marker: string): ProcessRef | undefined {
  const p = processTable(1000).find((e) => e.pgrp === e.pid && e.marker === marker);
  return p && { pid: p.pid, startTicks: p.startTicks };
}

function signalAll(leader: ProcessRef | null, marker: string, signal: NodeJS.Signals, maxAgeMs: number): number {
  const pids = instanceProcesses(leader, marker, maxAgeMs);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
  return pids.length;
}

/**
 * Stops an instance: SIGTERM to every process of it (see instanceProcesses), SIGKILL to
 * whatever remains after `timeoutMs`. Resolves when nothing of it is left.
 */
export async function stopProcesses(
  leader: ProcessRef | null,
  marker: string,
  timeoutMs: number,
): Promise<'none' | 'terminated' | 'killed'> {
  if (signalAll(leader, marker, 'SIGTERM', 20) === 0) return 'none';
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; Date.now() < deadline; wait = Math.min(50, wait * 2)) {
    await sleep(wait);
    if (instanceProcesses(leader, marker, wait - 1).length === 0) return 'terminated';
  }
  while (signalAll(leader, marker, 'SIGKILL', 0) > 0) await sleep(20);
  return 'killed';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
