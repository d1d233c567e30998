import type { InstanceView } from '../../store/instances-repo.js';
import { containerName } from '../../runtime/container-runner.js';
import type { Facts, ProcessFact } from '../facts.js';

/** True when process `p` is one of instance `v`'s own (its marker, or its leader's group). */
export function belongsTo(f: Facts, p: ProcessFact, v: InstanceView): boolean {
  return p.marker === `${f.markerPrefix}:${v.id}` || (v.pid !== null && p.pgrp === v.pid) || publishes(f, p, v);
}

/**
 * A container instance's port on 127.0.0.1 is held by its engine's port proxy, run by root, which
 * stands for the container: Docker's docker-proxy publishing that very port, or Podman's conmon of
 * that very container (named by Berth: its home, app, env, service and instance id).
 */
function publishes(f: Facts, p: ProcessFact, v: InstanceView): boolean {
  if (v.port === null || p.user !== 'root' || !v.spec.includes('"kind":"container"')) return false;
  const argv = p.command.split(' ');
  const after = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  if (/(^|\/)conmon$/.test(argv[0] ?? ''))
    return (
      after('-n') === containerName(f.markerPrefix, { app: v.app, env: v.env, service: v.service, instance: v.id })
    );
  return (
    /(^|\/)docker-proxy$/.test(argv[0] ?? '') &&
    after('-host-ip') === '127.0.0.1' &&
    after('-host-port') === String(v.port)
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
