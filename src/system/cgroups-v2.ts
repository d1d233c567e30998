import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import {
  counter,
  CPU_PERIOD_US,
  ensureDir,
  readControl,
  removeDir,
  writeControl,
  type CgroupLimits,
  type Cgroups,
  type Controller,
} from './cgroups.js';
import { BerthError } from '../core/errors.js';

/**
 * cgroup v2: one hierarchy. A cgroup that holds processes cannot hand controllers to its children
 * (the "no internal processes" rule), and berthd's own cgroup holds berthd, so the subtree hangs
 * off the root of the hierarchy (as Docker's cgroupfs driver does), where systemd leaves it alone.
 * Not tested on the machine Berth is developed on (it mounts the controllers as v1).
 */
export class CgroupsV2 implements Cgroups {
  readonly version = 2 as const;
  readonly #root: string;
  readonly #subtree: string;

  /** `root`: the mounted hierarchy's top; `subtree`: berthd's directory under it (kept once made, with its controllers). */
  constructor(root: string, subtree: string) {
    this.#root = root;
    this.#subtree = subtree;
  }

  dir(name: string, controller: Controller): string | undefined {
    const available = (readControl(path.join(this.#root, 'cgroup.controllers')) ?? '').split(/\s+/);
    return available.includes(controller) ? path.join(this.#subtree, name) : undefined;
  }

  create(name: string, limits: CgroupLimits): string[] {
    const wanted: Controller[] = [];
    if (limits.memoryBytes !== undefined) wanted.push('memory');
    if (limits.cpu !== undefined) wanted.push('cpu');
    if (limits.pids !== undefined) wanted.push('pids');
    const available = (readControl(path.join(this.#root, 'cgroup.controllers')) ?? '').split(/\s+/);
    const missing = wanted.filter((c) => !available.includes(c));
    if (missing.length > 0)
      throw new BerthError(
        'failed',
        'cgroup_controller_missing',
        `this host's cgroup v2 has no ${missing.join(', ')}`,
        {
          hint: 'the controller is bound to a cgroup v1 hierarchy or disabled on the kernel command line; remove that limit from resources',
        },
      );
    const enable = wanted.map((c) => `+${c}`).join(' ');
    if (enable) writeControl(path.join(this.#root, 'cgroup.subtree_control'), enable);
    ensureDir(this.#subtree);
    if (enable) writeControl(path.join(this.#subtree, 'cgroup.subtree_control'), enable);
    const dir = path.join(this.#subtree, name);
    if (!removeDir(dir))
      throw new BerthError('failed', 'cgroup_busy', `the cgroup ${dir} still holds processes of an earlier run`, {
        hint: 'stop the service (berth stop), then start it again',
      });
    ensureDir(dir);
    try {
      if (limits.memoryBytes !== undefined) {
        writeControl(path.join(dir, 'memory.max'), String(limits.memoryBytes));
        if (existsSync(path.join(dir, 'memory.swap.max'))) writeControl(path.join(dir, 'memory.swap.max'), '0');
      }
      if (limits.cpu !== undefined)
        writeControl(path.join(dir, 'cpu.max'), `${Math.round(limits.cpu * CPU_PERIOD_US)} ${CPU_PERIOD_US}`);
      if (limits.pids !== undefined) writeControl(path.join(dir, 'pids.max'), String(limits.pids));
    } catch (err) {
      removeDir(dir);
      throw err;
    }
    return [path.join(dir, 'cgroup.procs')];
  }

  oomKills(name: string): number {
    return counter(readControl(path.join(this.#subtree, name, 'memory.events')), 'oom_kill');
  }

  remove(name: string): void {
    removeDir(path.join(this.#subtree, name));
  }

  list(): string[] {
    try {
      return readdirSync(this.#subtree, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return [];
    }
  }
}
