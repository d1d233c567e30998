import { closeSync, constants, openSync } from 'node:fs';
import { DEFAULT_ROTATION, logWriterPath, type RotationOptions } from './log-writer.js';
import { isSameProcessAlive, signalReaches } from '../system/proc.js';
import { instanceProcesses } from './process-table.js';
import { inCgroups } from './cgroup-exec.js';
import { spawner, type Spawned } from './spawner.js';

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
  /**
   * cgroup.procs files of the instance's cgroups (see system/cgroups.ts): the process joins them
   * before it execs `argv` (through src/native/cgroup-exec.c), then becomes uid:gid.
   */
  readonly cgroups?: readonly string[] | undefined;
}

export { MARKER_ENV } from './process-table.js';

/**
 * Starts a process in its own session and process group, its output going to its own log
 * writer: a small process (also in a session of its own, not marked as part of the instance)
 * that reads the other end of the instance's stdout/stderr and writes the log file,
 * rotating by rename and dropping with a count rather than outgrow its budget (see
 * src/native/log-writer.c). Neither depends on the daemon: berthd may die and both run on;
 * the writer ends by itself when the last process of the instance has closed its output.
 *
 * Why a writer per instance: the instance holding the log file itself (O_APPEND) leaves only
 * copy-and-truncate rotation, done by berthd, which cannot keep up with a fast writer and
 * stalls the daemon while it copies. A pipe read by berthd would die with berthd (and take
 * the instance with it: SIGPIPE). One writer for every instance would be one failure for all
 * of them. A writer per instance costs one small C process (~1 ms to start, ~100 KiB of its own
 * memory) and fails alone: should it die, its instance gets EPIPE and is restarted by policy.
 *
 * Both are forked by a launcher (spawner.ts), so berthd's event loop never waits for a fork and exec.
 */
export function launch(spec: LaunchSpec): Promise<Spawned> {
  try {
    const rotation = spec.rotation ?? DEFAULT_ROTATION;
    // There before launch() returns (the caller may give it to the app's user); never through a link.
    closeSync(
      openSync(spec.logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640),
    );
    const owner = spec.uid !== undefined ? [String(spec.uid), String(spec.gid ?? spec.uid)] : [];
    // In cgroups, the helper joins them as root and drops to the app's user itself.
    const confined = spec.cgroups !== undefined && spec.cgroups.length > 0;
    return spawner.launch({
      argv: confined ? inCgroups(spec.cgroups, spec.argv, spec.uid, spec.gid) : spec.argv,
      cwd: spec.cwd,
      env: spec.env,
      ...(spec.uid !== undefined && !confined ? { uid: spec.uid, gid: spec.gid } : {}),
      writer: [logWriterPath(), spec.logFile, String(rotation.maxBytes), String(rotation.keep), ...owner],
    });
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** A process we started, identified for good by pid and start time. */
export interface ProcessRef {
  readonly pid: number;
  readonly startTicks: string;
}

/** How old a scan of /proc may be for a stop: one scan serves every instance stopped together. */
const STOP_SCAN_MS = 1000;
/** How long a group may answer after everything found in it is gone before a scan looks why. */
const GROUP_GRACE_MS = 100;

/**
 * Stops an instance: SIGTERM to its process group (by default the leader's while it is provably
 * the process we started; a caller that saw the leader exit this instant may name the group, as
 * the kernel keeps a pid from reuse while its group has members) and to every process carrying its marker, SIGKILL to whatever remains after
 * `timeoutMs`. Resolves when nothing of it is left.
 *
 * It reads /proc as a whole at most once (a snapshot shared by every stop within a second,
 * so removing 1,000 instances costs one scan), then waits on what it found: kill(-group, 0)
 * and the found processes' own /proc/<pid>/stat. Only when the group still answers after
 * everything found is gone (a process forked after the scan, or a zombie nobody reaped) does
 * it look again, with a fresh scan.
 */
export async function stopProcesses(
  leader: ProcessRef | null,
  marker: string,
  timeoutMs: number,
  group: number | null = leader !== null && isSameProcessAlive(leader.pid, leader.startTicks) ? leader.pid : null,
  how: StopHow = {},
): Promise<'none' | 'terminated' | 'killed'> {
  let found = instanceProcesses(leader, marker, STOP_SCAN_MS, group);
  if (found.length === 0 && !groupExists(group)) return 'none';
  const first = how.signal ?? 'SIGTERM';
  // A server that stops its own children (a database) is asked alone, while it lives: they are its to stop.
  const leaderAsked = () =>
    how.leaderOnly === true && leader !== null && isSameProcessAlive(leader.pid, leader.startTicks);
  // Without its leader, what is left of such a server gets SIGTERM (a PostgreSQL backend takes SIGINT as "cancel").
  const rest = how.leaderOnly ? 'SIGTERM' : first;
  if (leaderAsked()) process.kill((leader as ProcessRef).pid, first);
  else signal(group, found, rest);
  const deadline = Date.now() + timeoutMs;
  let emptySince: number | undefined;
  for (let wait = 5; ; wait = Math.min(50, wait * 2)) {
    found = found.filter((p) => isSameProcessAlive(p.pid, p.startTicks));
    if (found.length === 0) {
      if (!groupExists(group)) return 'terminated';
      // What is left of the group is usually a zombie about to be reaped (our own child: on the next
      // turn of the event loop). Only if it stays does a scan look, one that any stop may share.
      emptySince ??= Date.now();
      if (Date.now() - emptySince >= GROUP_GRACE_MS) {
        found = instanceProcesses(null, marker, Date.now() - emptySince, group);
        if (found.length === 0) return 'terminated';
        if (!leaderAsked()) signal(null, found, rest);
        emptySince = undefined;
      }
    }
    if (Date.now() >= deadline) break;
    await sleep(wait);
  }
  for (;;) {
    signal(group, found, 'SIGKILL');
    const killedAt = Date.now();
    await sleep(GROUP_GRACE_MS);
    found = found.filter((p) => isSameProcessAlive(p.pid, p.startTicks));
    if (found.length > 0) continue;
    if (!groupExists(group)) return 'killed';
    found = instanceProcesses(null, marker, Date.now() - killedAt, group);
    if (found.length === 0) return 'killed';
  }
}

/** How a stop begins: `signal` (default SIGTERM), to the leader alone while it lives (`leaderOnly`) or to all. */
export interface StopHow {
  readonly signal?: NodeJS.Signals;
  readonly leaderOnly?: boolean;
}

/** Whether any process (zombies included) is in process group `group`: one system call. */
function groupExists(group: number | null): boolean {
  return group !== null && signalReaches(-group);
}

function signal(group: number | null, found: readonly ProcessRef[], sig: NodeJS.Signals): void {
  if (group !== null)
    try {
      process.kill(-group, sig);
    } catch {
      // the group is empty
    }
  for (const p of found)
    try {
      if (isSameProcessAlive(p.pid, p.startTicks)) process.kill(p.pid, sig); // never a pid reused since the scan
    } catch {
      // exited meanwhile
    }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
