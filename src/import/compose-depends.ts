import { ensureHealthGate } from './compose-health.js';
import type { Published } from './compose-ports.js';
import type { ServiceContext, ServiceOut } from './import-context.js';
import { at, isMapping } from './import-warnings.js';

/** One mapped service with what its dependencies need: its context and compose definition. */
export interface Mapped {
  readonly ctx: ServiceContext;
  readonly svc: Record<string, unknown>;
  readonly out: ServiceOut;
  /** What its `ports:` published (compose-publish gives it a route). */
  readonly published?: Published | undefined;
}

const DEPENDENCY_KEYS = new Set(['condition']);

/**
 * `depends_on:` (list or map form) to `depends_on:`. Berth always waits for a dependency to be
 * ready before it starts a service; `condition: service_healthy` also gives the dependency a
 * health gate (a TCP check when it has none of its own). `service_completed_successfully` waits
 * for a run-once container, which Berth does not have: reported, not mapped.
 */
export function mapDependsOn(all: ReadonlyMap<string, Mapped>, one: Mapped): void {
  const spec = one.svc.depends_on;
  if (spec === undefined) return;
  const { ctx } = one;
  const p = at(ctx.path, 'depends_on');
  const entries: Array<[string, unknown, string]> = Array.isArray(spec)
    ? spec.map((d, i) => [String(d), undefined, at(p, i)])
    : isMapping(spec)
      ? Object.entries(spec).map(([d, v]) => [d, v, at(p, d)])
      : [];
  if (entries.length === 0 && !(Array.isArray(spec) || isMapping(spec)))
    return ctx.warn.notMapped(p, 'expected a list or a mapping of services');
  const deps: string[] = [];
  for (const [dep, value, dp] of entries) {
    const target = all.get(dep);
    if (target === undefined) {
      ctx.warn.notMapped(dp, `${dep} is not a service of this compose file`);
      continue;
    }
    const condition = isMapping(value) ? value.condition : undefined;
    if (isMapping(value))
      for (const key of Object.keys(value))
        if (!DEPENDENCY_KEYS.has(key)) ctx.warn.notMapped(at(dp, key), 'Berth waits for every dependency, always');
    if (condition === 'service_completed_successfully') {
      ctx.warn.notMapped(
        at(dp, 'condition'),
        `service_completed_successfully: Berth has no run-once services; if ${dep} is a migration, make its command this service's release hook (release:)`,
      );
      continue;
    }
    if (condition === 'service_healthy') ensureHealthGate(target.out, target.ctx);
    else if (condition !== undefined && condition !== 'service_started')
      ctx.warn.add(at(dp, 'condition'), `unknown condition ${JSON.stringify(condition)}: mapped as a plain dependency`);
    if (!deps.includes(target.ctx.name)) deps.push(target.ctx.name);
  }
  if (deps.length > 0) one.out.depends_on = deps;
}
