import type { Facts, ProcessFact } from '../facts.js';
import { describeProcess } from '../facts.js';
import type { Finding } from '../finding.js';
import { belongsTo, leaseHolder, markedInstance } from './ownership.js';

/**
 * Leased ports held by someone else, and pinned ports with a foreign listener. A process
 * carrying the mark of an instance Berth knows is never called foreign (its fix is never
 * `kill`): Berth's own instance on a port whose lease is missing, or an instance listening
 * on a port it was not given, is named as such.
 */
export function portChecks(f: Facts): Finding[] {
  const out: Finding[] = [];
  for (const lease of f.leases) {
    const holders = f.listening.get(lease.port) ?? [];
    const owner = leaseHolder(f, lease.port);
    const others = holders.filter((p) => !owner || !belongsTo(f, p, owner));
    out.push(...strayInstances(f, others, `port ${lease.port}, leased to ${lease.app}/${lease.env}/${lease.service}`));
    const foreign = others.filter((p) => !markedInstance(f, p));
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
      const all = f.listening.get(spec.port) ?? [];
      const own = all.filter((p) => {
        const v = markedInstance(f, p);
        return v?.environmentId === e.id && v.service === spec.name;
      });
      if (own.length > 0) {
        const v = markedInstance(f, own[0] as ProcessFact) as (typeof f.instances)[number];
        out.push({
          severity: 'warning',
          code: 'lease-missing',
          app: e.app,
          env: e.name,
          service: spec.name,
          message: `port ${spec.port}, pinned by ${e.app}/${e.name}/${spec.name}, is held by its own instance ${v.service}[${v.idx}] (${own.map(describeProcess).join('; ')}), but Berth holds no lease for it`,
          fix: `berth restart ${e.app} ${spec.name}${e.name === 'production' ? '' : ` --env ${e.name}`} (its start takes the lease back)`,
          deployFixes: true,
        });
      }
      const others = all.filter((p) => !own.includes(p));
      out.push(...strayInstances(f, others, `port ${spec.port}, pinned by ${e.app}/${e.name}/${spec.name}`));
      const holders = others.filter((p) => !markedInstance(f, p));
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

/** Processes of Berth's own instances listening on a port that is not theirs. */
function strayInstances(f: Facts, holders: readonly ProcessFact[], what: string): Finding[] {
  return holders.flatMap((p) => {
    const v = markedInstance(f, p);
    if (!v) return [];
    return [
      {
        severity: 'error' as const,
        code: 'instance-wrong-port',
        app: v.app,
        env: v.env,
        service: v.service,
        message: `${what}, is held by ${describeProcess(p)}, a process of ${v.app}/${v.env}/${v.service}[${v.idx}] (release ${v.release}) that was given ${v.port === null ? 'no port' : `port ${v.port}`}`,
        fix: `make ${v.service} listen on $PORT (berth.yaml: services.${v.service}.run), then berth restart ${v.app} ${v.service}`,
      },
    ];
  });
}
