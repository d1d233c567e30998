import type { InstanceView } from '../../store/instances-repo.js';
import type { Facts, ProcessFact } from '../facts.js';

/** True when process `p` is one of instance `v`'s own (its marker, or its leader's group). */
export function belongsTo(f: Facts, p: ProcessFact, v: InstanceView): boolean {
  return p.marker === `${f.markerPrefix}:${v.id}` || (v.pid !== null && p.pgrp === v.pid) || publishes(p, v);
}

/**
 * A container instance's port on 127.0.0.1 is held by its engine's port proxy (Docker's
 * docker-proxy, run by root), publishing that very port: that process stands for the container.
 */
function publishes(p: ProcessFact, v: InstanceView): boolean {
  if (v.port === null || p.user !== 'root' || !v.spec.includes('"kind":"container"')) return false;
  const argv = p.command.split(' ');
  return (
    /(^|\/)docker-proxy$/.test(argv[0] ?? '') &&
    argv.includes('-host-ip') &&
    argv[argv.indexOf('-host-ip') + 1] === '127.0.0.1' &&
    argv[argv.indexOf('-host-port') + 1] === String(v.port)
  );
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
