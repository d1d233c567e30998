import type { InstanceView } from '../../store/instances-repo.js';
import type { Facts, ProcessFact } from '../facts.js';

/** True when process `p` is one of instance `v`'s own (its marker, or its leader's group). */
export function belongsTo(f: Facts, p: ProcessFact, v: InstanceView): boolean {
  return p.marker === `${f.markerPrefix}:${v.id}` || (v.pid !== null && p.pgrp === v.pid);
}

/** The instance that owns a local port by lease, if any. */
export function leaseHolder(f: Facts, port: number): InstanceView | undefined {
  const lease = f.leases.find((l) => l.port === port);
  return lease ? f.instances.find((v) => v.id === lease.instanceId) : undefined;
}

/** The known instance whose marker process `p` carries: one of Berth's own, never a stranger to kill. */
export function markedInstance(f: Facts, p: ProcessFact): InstanceView | undefined {
  return p.marker === undefined ? undefined : f.instances.find((v) => p.marker === `${f.markerPrefix}:${v.id}`);
}
