import type { Logger } from 'pino';
import type { ResourceLimits, ServiceSpec } from '../config/manifest-types.js';
import { formatSize } from '../config/size.js';
import { BerthError, describe } from '../core/errors.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { Cgroups } from '../system/cgroups.js';
import { detectCgroups } from '../system/cgroups-detect.js';

type Who = Pick<InstanceView, 'id' | 'app' | 'env' | 'service' | 'idx'>;

/** True when the service sets at least one limit. */
export function hasLimits(r: ResourceLimits | undefined): r is ResourceLimits {
  return r !== undefined && (r.memoryBytes !== undefined || r.cpu !== undefined || r.pids !== undefined);
}

/** "memory 512M, cpu 1.5, pids 256". */
export function describeLimits(r: ResourceLimits): string {
  return [
    ...(r.memoryBytes !== undefined ? [`memory ${formatSize(r.memoryBytes)}`] : []),
    ...(r.cpu !== undefined ? [`cpu ${r.cpu}`] : []),
    ...(r.pids !== undefined ? [`pids ${r.pids}`] : []),
  ].join(', ');
}

/**
 * The cgroup of each instance whose service has `resources`: `<app>.<env>.<service>.<idx>.i<id>`
 * in berthd's subtree (see system/cgroups-detect.ts). Made afresh at every start of the instance
 * (so its OOM count is this run's), read when its processes are gone, removed then. Services
 * without `resources` get none, and cost nothing: the host's cgroups are only looked at once one
 * is needed.
 */
export class InstanceLimits {
  readonly #subtree: string;
  readonly #log: Logger;
  #cgroups: Cgroups | null | undefined;

  /** `subtree`: the directory name of this berthd's cgroups (one per BERTH_HOME). */
  constructor(subtree: string, log: Logger) {
    this.#subtree = subtree;
    this.#log = log;
  }

  get cgroups(): Cgroups | null {
    this.#cgroups ??= detectCgroups(this.#subtree) ?? null;
    return this.#cgroups;
  }

  name(v: Who): string {
    return `${v.app}.${v.env}.${v.service}.${v.idx}.i${v.id}`;
  }

  /** Makes the instance's cgroup for a start; returns the files its process joins it by, or undefined without limits. */
  join(v: Who, spec: ServiceSpec): string[] | undefined {
    if (!hasLimits(spec.resources)) return undefined;
    const cgroups = this.cgroups;
    if (!cgroups)
      throw new BerthError(
        'failed',
        'cgroups_missing',
        'this host mounts no cgroups (v1 or v2) to enforce resources in',
        {
          hint: `mount cgroups at /sys/fs/cgroup, or remove services.${v.service}.resources from berth.yaml`,
        },
      );
    return cgroups.create(this.name(v), spec.resources);
  }

  /**
   * The memory limit, when the kernel killed a process of this run of the instance for going over it.
   * Read once its processes are gone, before `release`.
   */
  oomLimit(v: Who, spec: ServiceSpec): number | undefined {
    const bytes = spec.resources?.memoryBytes;
    if (bytes === undefined) return undefined;
    try {
      return (this.cgroups?.oomKills(this.name(v)) ?? 0) > 0 ? bytes : undefined;
    } catch (err) {
      this.#log.warn({ err: describe(err), instance: v.id }, 'reading the oom count failed');
      return undefined;
    }
  }

  /** Removes the instance's cgroup once its processes are gone (a cgroup still in use stays). */
  release(v: Who, spec: ServiceSpec): void {
    if (!hasLimits(spec.resources)) return;
    try {
      this.cgroups?.remove(this.name(v));
    } catch (err) {
      this.#log.warn({ err: describe(err), instance: v.id }, 'removing the cgroup failed');
    }
  }

  /** At boot: removes the cgroups of instances the store no longer has (berthd died before removing them). */
  sweep(known: ReadonlySet<number>): void {
    try {
      const cgroups = this.cgroups;
      for (const name of cgroups?.list() ?? []) {
        const id = /\.i(\d+)$/.exec(name)?.[1];
        if (id !== undefined && !known.has(Number(id))) cgroups?.remove(name);
      }
    } catch (err) {
      this.#log.warn({ err: describe(err) }, 'removing the cgroups of removed instances failed');
    }
  }
}
