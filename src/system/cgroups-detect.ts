import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cgroupMounts, mountedDir, ownCgroups, type Cgroups, type Controller } from './cgroups.js';
import { CgroupsV1 } from './cgroups-v1.js';
import { CgroupsV2 } from './cgroups-v2.js';

const CONTROLLERS: readonly Controller[] = ['memory', 'cpu', 'pids'];

/**
 * The host's cgroups for Berth's instances, in a subtree named `subtree`: v1 when the host mounts
 * any of the memory, cpu and pids controllers as v1 hierarchies (berthd's own cgroup in each, then
 * `subtree`), otherwise v2 (`subtree` at the top of the unified hierarchy). Undefined when neither
 * is mounted. Reads /proc/self/mountinfo and /proc/self/cgroup (unless given): call it once, when first needed.
 */
export function detectCgroups(
  subtree: string,
  mountinfo = readFileSync('/proc/self/mountinfo', 'utf8'),
  self = readFileSync('/proc/self/cgroup', 'utf8'),
): Cgroups | undefined {
  const mounts = cgroupMounts(mountinfo);
  const own = ownCgroups(self);
  const v1 = new Map<Controller, string>();
  for (const c of CONTROLLERS) {
    const mount = mounts.find((m) => m.version === 1 && m.controllers.includes(c));
    const at = own.get(c);
    if (mount && at !== undefined) v1.set(c, path.join(mountedDir(mount, at), subtree));
  }
  if (v1.size > 0) return new CgroupsV1(v1);
  const unified =
    mounts.find((m) => m.version === 2 && m.mountPoint === '/sys/fs/cgroup') ?? mounts.find((m) => m.version === 2);
  return unified ? new CgroupsV2(unified.mountPoint, path.join(unified.mountPoint, subtree)) : undefined;
}
