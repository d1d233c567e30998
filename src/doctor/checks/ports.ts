import type { Facts } from '../facts.js';
import { describeProcess } from '../facts.js';
import type { Finding } from '../finding.js';
import { belongsTo, leaseHolder } from './ownership.js';

/** Leased ports held by someone else, and pinned ports with a foreign listener. */
export function portChecks(f: Facts): Finding[] {
  const out: Finding[] = [];
  for (const lease of f.leases) {
    const holders = f.listening.get(lease.port) ?? [];
    const owner = leaseHolder(f, lease.port);
    const foreign = holders.filter((p) => !owner || !belongsTo(f, p, owner));
    if (foreign.length === 0) continue;
    const idx = owner ? `[${owner.idx}]` : '';
    out.push({
      severity: 'error',
      code: 'lease-port-foreign',
      app: lease.app,
      env: lease.env,
      service: lease.service,
      message: `port ${lease.port} is leased to ${lease.app}/${lease.env}/${lease.service}${idx}, but ${foreign.map(describeProcess).join('; ')} holds it`,
      fix: `kill ${foreign.map((p) => p.pid).join(' ')}`,
    });
  }
  for (const e of f.environments) {
    for (const spec of f.manifests.get(e.id)?.services ?? []) {
      if (typeof spec.port !== 'number' || f.leases.some((l) => l.port === spec.port)) continue;
      const holders = f.listening.get(spec.port) ?? [];
      if (holders.length === 0) continue;
      out.push({
        severity: 'error',
        code: 'pinned-port-foreign',
        app: e.app,
        env: e.name,
        service: spec.name,
        message: `port ${spec.port}, pinned by ${e.app}/${e.name}/${spec.name}, is held by ${holders.map(describeProcess).join('; ')}`,
        fix: `kill ${holders.map((p) => p.pid).join(' ')}`,
      });
    }
  }
  return out;
}
