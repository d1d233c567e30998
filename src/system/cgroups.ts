import { closeSync, constants, lstatSync, mkdirSync, openSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';

/** What one cgroup allows, all its processes together; an absent limit is not set. */
export interface CgroupLimits {
  readonly memoryBytes?: number;
  /** CPUs' worth of time per period (1.5: 150 ms in every 100 ms). */
  readonly cpu?: number;
  readonly pids?: number;
}

export type Controller = 'memory' | 'cpu' | 'pids';

/** The period cpu quotas are counted in (the kernel's default): 100 ms. */
export const CPU_PERIOD_US = 100_000;

/**
 * The cgroups of Berth's instances, on one host, in one subtree that berthd made and owns. One
 * implementation per cgroup version (system/cgroups-v1.ts, cgroups-v2.ts); `detectCgroups` picks.
 */
export interface Cgroups {
  readonly version: 1 | 2;
  /**
   * Makes cgroup `name` afresh (its counters from zero: one made before is removed, and must be
   * empty) with `limits`, and returns the cgroup.procs files a process writes its pid to, to join it.
   */
  create(name: string, limits: CgroupLimits): string[];
  /** Processes the kernel's OOM killer killed in cgroup `name` since it was made; 0 when there is none. */
  oomKills(name: string): number;
  /** Removes cgroup `name` (empty by then); nothing when it does not exist. */
  remove(name: string): void;
  /** The cgroups in the subtree, by name. */
  list(): string[];
  /** Where cgroup `name` is for `controller` (doctor, tests); undefined when that controller is not there. */
  dir(name: string, controller: Controller): string | undefined;
}

/** One line of /proc/self/mountinfo that mounts a cgroup hierarchy. */
export interface CgroupMount {
  readonly version: 1 | 2;
  /** The hierarchy's path mounted there ("/" unless in a container). */
  readonly root: string;
  readonly mountPoint: string;
  /** v1: the controllers of this hierarchy (from the super options); v2: empty (see cgroup.controllers). */
  readonly controllers: readonly string[];
}

export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const [fstype, , superOptions] = right.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    out.push({
      version: fstype === 'cgroup2' ? 2 : 1,
      root: unescape(f[3] ?? '/'),
      mountPoint: unescape(f[4] ?? ''),
      controllers: fstype === 'cgroup' ? (superOptions ?? '').split(',') : [],
    });
  }
  return out;
}

/** This process's cgroup path per hierarchy: key "" is v2's, otherwise each v1 controller's. */
export function ownCgroups(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controllers = (m[1] as string).split(',');
    for (const c of controllers) out.set(c, m[2] as string);
  }
  return out;
}

/** The directory of cgroup `cgroupPath` in a hierarchy mounted at `mount` (whose root may be a sub-path). */
export function mountedDir(mount: CgroupMount, cgroupPath: string): string {
  const rel =
    mount.root === '/'
      ? cgroupPath
      : cgroupPath === mount.root || cgroupPath.startsWith(mount.root + '/')
        ? cgroupPath.slice(mount.root.length)
        : '/';
  return path.join(mount.mountPoint, rel);
}

/** /proc/self/mountinfo escapes spaces and the like as \ooo. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * A directory of berthd's in cgroupfs: made if missing (root's, as berthd is), and proven to be a
 * directory (not a link) of root's before anything is written in it.
 */
export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw cgroupError(`making the cgroup ${dir}`, err);
  }
  const st = lstatSync(dir);
  // Never one an app was given (a delegated cgroup): it could make cgroups of its own in it, without limits.
  if (!st.isDirectory() || (process.getuid?.() === 0 && st.uid !== 0))
    throw new BerthError('failed', 'cgroup_not_berths', `${dir} is not a cgroup directory of root's`, {
      hint: 'remove it (rmdir), then start the service again',
    });
}

/**
 * Makes cgroup `name` in the subtree `base` (made too when missing). The subtree goes when its last
 * cgroup does (`removeChild`): should that happen between the two mkdirs, the subtree is made again.
 */
export function makeChild(base: string, name: string): string {
  const dir = path.join(base, name);
  for (let attempt = 0; ; attempt++) {
    ensureDir(base);
    try {
      ensureDir(dir);
      return dir;
    } catch (err) {
      const code = err instanceof BerthError ? (err.cause as NodeJS.ErrnoException | undefined)?.code : undefined;
      if (attempt > 0 || code !== 'ENOENT') throw err;
    }
  }
}

/** Removes cgroup `name` of the subtree `base`, then the subtree when that was its last cgroup. */
export function removeChild(base: string, name: string): void {
  if (removeDir(path.join(base, name))) removeDir(base); // EBUSY while other cgroups are in it
}

/** Removes an empty cgroup; true when it is gone (or was never there). */
export function removeDir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'EBUSY') return false; // processes are still in it
    throw cgroupError(`removing the cgroup ${dir}`, err);
  }
}

/** Writes a cgroup control file, never through a link. */
export function writeControl(file: string, value: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_NOFOLLOW);
    writeSync(fd, value);
  } catch (err) {
    throw cgroupError(`setting ${file} to ${value.trim()}`, err);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A control file's text, or undefined when it is not there. */
export function readControl(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A counter in a flat-keyed control file ("oom_kill 3" in memory.events or memory.oom_control). */
export function counter(text: string | undefined, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text ?? '');
  return m ? Number(m[1]) : 0;
}

export function cgroupError(doing: string, err: unknown): BerthError {
  const code = (err as NodeJS.ErrnoException).code;
  return new BerthError('failed', 'cgroup_failed', `${doing}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
    hint:
      code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? 'resources are enforced with cgroups, which needs berthd to run as root with /sys/fs/cgroup writable'
        : 'see berth doctor; remove `resources` from the service to run it without limits',
  });
}
