import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';
import {
  counter,
  CPU_PERIOD_US,
  makeChild,
  readControl,
  removeChild,
  removeDir,
  writeControl,
  type CgroupLimits,
  type Cgroups,
  type Controller,
} from './cgroups.js';

/**
 * cgroup v1: one hierarchy per controller. The subtree is made in berthd's own cgroup of each
 * hierarchy (v1 lets a cgroup hold processes and children both), so instances stay inside
 * whatever limits the host gave berthd. An instance joins only the hierarchies it has a limit in; the
 * subtree goes with its last cgroup.
 */
export class CgroupsV1 implements Cgroups {
  readonly version = 1 as const;
  /** Per controller: the subtree's directory (absent: this host has no such hierarchy). */
  readonly #subtree: ReadonlyMap<Controller, string>;

  constructor(subtree: ReadonlyMap<Controller, string>) {
    this.#subtree = subtree;
  }

  dir(name: string, controller: Controller): string | undefined {
    const base = this.#subtree.get(controller);
    return base === undefined ? undefined : path.join(base, name);
  }

  create(name: string, limits: CgroupLimits): string[] {
    const wanted: Controller[] = [];
    if (limits.memoryBytes !== undefined) wanted.push('memory');
    if (limits.cpu !== undefined) wanted.push('cpu');
    if (limits.pids !== undefined) wanted.push('pids');
    const missing = wanted.filter((c) => !this.#subtree.has(c));
    if (missing.length > 0)
      throw new BerthError('failed', 'cgroup_controller_missing', `this host mounts no ${missing.join(', ')} cgroup`, {
        hint: `mount the cgroup controller (e.g. mount -t cgroup -o ${missing[0]} cgroup /sys/fs/cgroup/${missing[0]}), or remove that limit from resources`,
      });
    this.remove(name);
    const made: string[] = [];
    try {
      for (const c of wanted) {
        const base = this.#subtree.get(c) as string;
        const dir = path.join(base, name);
        if (!removeDir(dir))
          throw new BerthError('failed', 'cgroup_busy', `the cgroup ${dir} still holds processes of an earlier run`, {
            hint: 'stop the service (berth stop), then start it again',
          });
        made.push(makeChild(base, name));
        this.#limit(c, dir, limits);
      }
    } catch (err) {
      for (const dir of made) removeChild(path.dirname(dir), name);
      throw err;
    }
    return made.map((dir) => path.join(dir, 'cgroup.procs'));
  }

  #limit(c: Controller, dir: string, limits: CgroupLimits): void {
    if (c === 'memory') {
      const bytes = String(limits.memoryBytes);
      writeControl(path.join(dir, 'memory.limit_in_bytes'), bytes);
      // With swap accounting, memory + swap gets the same limit: no swapping past it.
      const memsw = path.join(dir, 'memory.memsw.limit_in_bytes');
      if (existsSync(memsw)) writeControl(memsw, bytes);
    } else if (c === 'cpu') {
      writeControl(path.join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      writeControl(path.join(dir, 'cpu.cfs_quota_us'), String(Math.round((limits.cpu as number) * CPU_PERIOD_US)));
    } else {
      writeControl(path.join(dir, 'pids.max'), String(limits.pids));
    }
  }

  oomKills(name: string): number {
    const dir = this.dir(name, 'memory');
    return dir === undefined ? 0 : counter(readControl(path.join(dir, 'memory.oom_control')), 'oom_kill');
  }

  remove(name: string): void {
    for (const base of this.#subtree.values()) removeChild(base, name);
  }

  list(): string[] {
    const names = new Set<string>();
    for (const base of this.#subtree.values()) {
      try {
        for (const e of readdirSync(base, { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
      } catch {
        // no subtree in this hierarchy yet
      }
    }
    return [...names];
  }
}
