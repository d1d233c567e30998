import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ROTATION, type RotationOptions } from './log-writer.js';
import { isSameProcessAlive, listPids, procEnvValue, procStat } from '../system/proc.js';

/** Everything needed to start one process; argv is executed without a shell. */
export interface LaunchSpec {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** stdout and stderr go here, through the instance's log writer (so output survives the daemon). */
  readonly logFile: string;
  /** How big its log may grow: the file and `keep` rotated ones, none past `maxBytes`. */
  readonly rotation?: RotationOptions | undefined;
  /** Run as this user and group (berthd as root: the app's own user). */
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
}

export interface Launched {
  readonly pid: number;
  readonly startTicks: string;
  readonly child: ChildProcess;
  /** Settles when the log writer has written everything and exited (after the last process of the instance). */
  readonly logged: Promise<void>;
}

/** The variable that marks every process of an instance, inherited by its children. */
export const MARKER_ENV = 'BERTH_INSTANCE';

const WRITER = fileURLToPath(new URL('./log-writer-main.js', import.meta.url));

/**
 * Starts a process in its own session and process group, its output going to its own log
 * writer: a small process (also in a session of its own, not marked as part of the instance)
 * that reads the other end of the instance's stdout/stderr and writes the log file,
 * rotating by rename and dropping with a count rather than outgrow its budget (see
 * log-writer.ts). Neither depends on the daemon: berthd may die and both run on; the writer
 * ends by itself when the last process of the instance has closed its output.
 *
 * Why a writer per instance: the instance holding the log file itself (O_APPEND) leaves only
 * copy-and-truncate rotation, done by berthd, which cannot keep up with a fast writer and
 * stalls the daemon while it copies. A pipe read by berthd would die with berthd (and take
 * the instance with it: SIGPIPE). One writer for every instance would be one failure for all
 * of them. A writer per instance costs one small process (~40 MB RSS, mostly the shared node
 * binary) and fails alone: should it die, its instance gets EPIPE and is restarted by policy.
 */
export function launch(spec: LaunchSpec): Promise<Launched> {
  const rotation = spec.rotation ?? DEFAULT_ROTATION;
  // There before launch() returns (the caller may give it to the app's user); never through a link.
  closeSync(
    openSync(spec.logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640),
  );
  const owner = spec.uid !== undefined ? [String(spec.uid), String(spec.gid ?? spec.uid)] : [];
  const writer = spawn(
    process.execPath,
    [WRITER, spec.logFile, String(rotation.maxBytes), String(rotation.keep), ...owner],
    { env: {}, detached: true, shell: false, stdio: ['pipe', 'ignore', 'ignore'] },
  );
  const logged = new Promise<void>((done) => {
    writer.once('exit', () => done());
    writer.once('error', () => done());
  });
  const output = writer.stdin;
  output.on('error', () => undefined); // we never write to it
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    const fail = (err: unknown) => {
      output.destroy(); // the writer sees the end of its input and exits
      writer.unref();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    writer.once('error', fail);
    try {
      child = spawn(spec.argv[0] as string, spec.argv.slice(1), {
        cwd: spec.cwd,
        env: { ...spec.env },
        detached: true,
        shell: false,
        stdio: ['ignore', output, output],
        ...(spec.uid !== undefined ? { uid: spec.uid, gid: spec.gid } : {}),
      });
    } catch (err) {
      fail(err);
      return;
    }
    child.once('error', fail);
    child.once('spawn', () => {
      output.destroy(); // our copy of the write end: from now on only the instance (and its children) hold one
      writer.unref();
      child.unref();
      const pid = child.pid as number;
      resolve({ pid, startTicks: procStat(pid)?.startTicks ?? '', child, logged });
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
