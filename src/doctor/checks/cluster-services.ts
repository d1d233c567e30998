import type { SwarmService } from '../../runtime/swarm-types.js';
import type { Facts } from '../facts.js';
import type { Finding, Severity } from '../finding.js';
import { taskTime, type SwarmFacts, type TimedTask } from '../swarm-facts.js';
import { nodeRef } from './cluster-nodes.js';

/** Failed tasks this recent count as the service restarting now; older ones are history. */
export const RECENT_MS = 10 * 60_000;
/** This many failed tasks of a service in RECENT_MS: it keeps crashing. */
export const RESTARTS = 3;
/** A task past scheduling that changed state this recently is on its way up (pulling, starting, health start period). */
export const START_GRACE_MS = 2 * 60_000;
const ON_ITS_WAY = new Set(['assigned', 'accepted', 'preparing', 'ready', 'starting']);
/** What an engine says when a task's image is not on its node and cannot be pulled there. */
const NO_IMAGE =
  /no such image|pull access denied|manifest unknown|repository does not exist|failed to resolve reference|error pulling image|image .* not found/i;

/** One Berth service on the swarm, with its tasks and what the checks need about them. */
interface Subject {
  readonly service: SwarmService;
  readonly where: { readonly app: string; readonly env: string; readonly service: string };
  readonly name: string;
  readonly tasks: readonly TimedTask[];
  /** Tasks Swarm wants running that run (a task with a health check runs once it passed), on a ready node. */
  readonly live: readonly TimedTask[];
  readonly env: string;
}

/**
 * Berth's services on the swarm (label berth.home), when berthd's engine manages one: running tasks that differ
 * from the replicas, tasks failing again and again (with the last error Swarm gives), a node that has no image
 * for a task and cannot pull it, and routes of the current release to a service none of whose tasks is healthy.
 */
export function clusterServiceChecks(f: Facts): Finding[] {
  if (!f.swarm) return [];
  const out: Finding[] = [];
  for (const s of subjects(f.swarm)) {
    out.push(...replicas(f, f.swarm, s), ...restarting(f, s), ...missingImage(f, s), ...routes(f, s));
  }
  return out;
}

function subjects(sw: SwarmFacts): Subject[] {
  const ready = new Set(sw.nodes.filter((n) => n.Status.State === 'ready').map((n) => n.ID));
  return sw.services.map((service) => {
    const l = service.Spec.Labels;
    const where = { app: l['berth.app'] ?? '?', env: l['berth.env'] ?? '?', service: l['berth.service'] ?? '?' };
    const tasks = sw.tasks.filter((t) => t.ServiceID === service.ID);
    const live = tasks.filter(
      (t) => t.DesiredState === 'running' && t.Status.State === 'running' && ready.has(t.NodeID ?? ''),
    );
    const env = where.env === 'production' ? '' : ` --env ${where.env}`;
    return { service, where, name: `${where.app}/${where.env}/${where.service}`, tasks, live, env };
  });
}

function replicas(f: Facts, sw: SwarmFacts, s: Subject): Finding[] {
  const wanted = (s.service.Spec.Mode as { Replicated?: { Replicas: number } }).Replicated?.Replicas; // undefined: global
  if (wanted === undefined || s.live.length === wanted) return [];
  const state = s.service.UpdateStatus?.State;
  // An update replaces tasks one by one (start-first: one more for a while): only no task at all is news then.
  if ((state === 'updating' || state === 'rollback_started') && s.live.length > 0) return [];
  const waiting = s.tasks.filter((t) => t.DesiredState === 'running' && !s.live.includes(t));
  // Tasks just placed and starting make up the difference: a deploy or a restart in progress, not news yet.
  const coming = waiting.filter((t) => ON_ITS_WAY.has(t.Status.State) && f.now - taskTime(t) < START_GRACE_MS);
  if (s.live.length + coming.length === wanted) return [];
  const reasons = new Map<string, number>();
  for (const t of waiting) {
    const why = `${t.Status.State}: ${t.Status.Err || t.Status.Message || 'no reason given'}`;
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  const told = [...reasons].map(([why, n]) => `${n} ${why}`).join('; ');
  const unplaced = waiting.some((t) => /no suitable node/.test(t.Status.Err ?? ''));
  const off = sw.nodes.filter((n) => n.Spec.Availability !== 'active').map((n) => nodeRef(sw.nodes, n));
  return [
    {
      severity: s.live.length === 0 ? 'error' : 'warning',
      code: 'cluster-service-replicas',
      ...s.where,
      message: `${s.name} runs ${s.live.length} of its ${wanted} replicas on the swarm${told ? ` (${told})` : ''}`,
      fix: unplaced
        ? `give Swarm nodes it may use: ${off.length ? `berth cluster activate ${off.join(' / ')}, or ` : ''}loosen services.${s.where.service}.placement in berth.yaml, then berth deploy ${s.where.app}${s.env}`
        : `berth logs ${s.where.app} ${s.where.service}${s.env}, fix the cause, then berth deploy ${s.where.app}${s.env}`,
      deployFixes: true,
    },
  ];
}

function restarting(f: Facts, s: Subject): Finding[] {
  const failed = s.tasks
    .filter((t) => (t.Status.State === 'failed' || t.Status.State === 'rejected') && !noImage(t))
    .filter((t) => f.now - taskTime(t) < RECENT_MS)
    .sort((a, b) => taskTime(b) - taskTime(a));
  const last = failed[0];
  if (failed.length < RESTARTS || !last) return [];
  const exit = last.Status.ContainerStatus?.ExitCode;
  const error = last.Status.Err || last.Status.Message || 'no error given';
  return [
    {
      severity: severityBy(s),
      code: 'cluster-task-restarting',
      ...s.where,
      message:
        `${s.name}: ${failed.length} of its tasks failed in the last ${RECENT_MS / 60_000} min and Swarm keeps starting new ones; ` +
        `the last one ${Math.round((f.now - taskTime(last)) / 1000)} s ago: ${error}${exit !== undefined ? ` (exit code ${exit})` : ''}` +
        `; ${s.live.length} task(s) running`,
      fix: `berth logs ${s.where.app} ${s.where.service}${s.env}, fix the cause, then berth deploy ${s.where.app}${s.env}`,
      deployFixes: true,
    },
  ];
}

function missingImage(f: Facts, s: Subject): Finding[] {
  const image = s.service.Spec.TaskTemplate.ContainerSpec.Image;
  const byNode = new Map<string, TimedTask[]>();
  for (const t of s.tasks) {
    if (!noImage(t) || f.now - taskTime(t) >= RECENT_MS || t.Spec.ContainerSpec.Image !== image) continue;
    byNode.set(t.NodeID ?? '', [...(byNode.get(t.NodeID ?? '') ?? []), t]);
  }
  const nodes = f.swarm?.nodes ?? [];
  return [...byNode].map(([id, tasks]) => {
    const node = nodes.find((n) => n.ID === id);
    const name = node ? nodeRef(nodes, node) : id.slice(0, 12) || 'an unknown node';
    return {
      severity: severityBy(s),
      code: 'cluster-image-missing',
      ...s.where,
      message:
        `node ${name} has no image ${image} for ${s.name} and cannot pull it: ${tasks[0]?.Status.Err ?? ''} ` +
        `(${tasks.length} task(s) rejected there in the last ${RECENT_MS / 60_000} min)`,
      fix:
        `push the image to a registry every node reaches (berth deploy pushes what it builds to the cluster's registry) ` +
        `and check ${name} reaches that registry; or keep the service off ${name} with services.${s.where.service}.placement.constraints`,
      deployFixes: true,
    };
  });
}

function routes(f: Facts, s: Subject): Finding[] {
  if (s.live.length > 0) return [];
  const e = f.environments.find((x) => x.app === s.where.app && x.name === s.where.env);
  const spec = e && f.manifests.get(e.id)?.services.find((x) => x.name === s.where.service);
  if (!spec || spec.routes.length === 0) return [];
  const hosts = spec.routes.map((r) => `${r.host}${r.path}`).join(', ');
  return [
    {
      severity: 'error',
      code: 'cluster-route-no-task',
      ...s.where,
      message: `route ${hosts} (${s.name}) has no healthy task on the swarm behind it: none of its ${s.tasks.filter((t) => t.DesiredState === 'running').length} task(s) runs and passed its health check, every request gets 502`,
      fix: `berth logs ${s.where.app} ${s.where.service}${s.env}, fix the cause, then berth deploy ${s.where.app}${s.env}`,
      deployFixes: true,
    },
  ];
}

function noImage(t: TimedTask): boolean {
  return NO_IMAGE.test(t.Status.Err ?? '');
}

/** No task of the service runs: it is down (error); some do: it serves with less (warning). */
function severityBy(s: Subject): Severity {
  return s.live.length === 0 ? 'error' : 'warning';
}
