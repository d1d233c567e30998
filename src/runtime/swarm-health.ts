import type { HealthSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import type { Healthcheck, SwarmTask, UpdatePolicy } from './swarm-types.js';

const MS = 1_000_000; // the API's durations are nanoseconds

/**
 * How long one check may take before it counts as failed, whatever the interval. Inside a task a check is an exec:
 * the node's engine starts a process in the container (runc), then wget waits for the answer. Three test swarms on
 * 2 cores (load 22-27): checks of healthy tasks took 0.09 s (median) to 1.7 s, 2 % over 1 s. Bounded by a 1 s
 * interval, 103 of 725 failed ("exceeded timeout (1s)") and Swarm killed healthy tasks under the requests they
 * served, all of a release at once, so the edge had none to send to (502s). One host's probe waits 2 s for the
 * answer alone (health/probes.ts); this is that and room for the exec.
 */
const CHECK_TIMEOUT_MS = 10_000;

/**
 * Berth's health check as the service's own: on a swarm the node's engine runs it inside each task's
 * container, and Swarm counts a task as running (so a start-first update goes on, and stops the old task)
 * only once it passes. `health: { http }` becomes `wget` of the path on the container's port (busybox
 * or GNU wget in the image: its exit status is the check, any 2xx passes), given CHECK_TIMEOUT_MS whatever
 * the interval. A service without a port (a worker, `process` check) gets none of Berth's: the image's own
 * HEALTHCHECK, if it has one, decides when a task is running (so a start-first update stops an old task only
 * once the new one passed it); without one a task is ready when its process runs, as on one host. The others
 * (tcp, listening, a database's protocol) have no portable command inside an arbitrary image: refused with the
 * way out, never assumed ready.
 */
export function swarmHealthcheck(service: string, health: HealthSpec, port: number | null): Healthcheck | undefined {
  const probe = health.probe;
  if (probe.kind === 'process') return undefined;
  if (probe.kind !== 'http' || port === null)
    throw new BerthError('invalid', 'swarm_health', `services.${service}.health: a Swarm service needs an http check`, {
      hint: `set health: { http: /a-path } (Swarm runs it inside the container with wget); ${probe.kind} checks run only on one host`,
    });
  if (probe.status !== undefined && (probe.status < 200 || probe.status > 299))
    throw new BerthError(
      'invalid',
      'swarm_health',
      `services.${service}.health.http.status: ${probe.status}: on a swarm the check passes on any 2xx answer`,
      { hint: 'leave status out, or point the check at a path that answers 2xx' },
    );
  return {
    Test: ['CMD', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${port}${probe.path}`],
    Interval: health.intervalMs * MS,
    Timeout: CHECK_TIMEOUT_MS * MS,
    Retries: health.unhealthyThreshold,
    StartPeriod: health.startTimeoutMs * MS,
  };
}

/** How a deploy replaces a service's tasks (`update:` of the manifest). */
export interface UpdateOptions {
  /** Tasks replaced at once. Default 1. */
  readonly parallelism?: number;
  /** start-first (the default): the new task is healthy before the old one stops; stop-first for exclusive holders. */
  readonly order?: 'start-first' | 'stop-first';
}

/**
 * Swarm's update and rollback policies for a service: start-first, and a failed update rolled back by Swarm
 * itself (max failure ratio 0: one new task that fails is enough). Each new task is watched for as long as
 * its health check may take to fail it (start period, then `unhealthy_threshold` failed probes) and one
 * interval more, so a task that never gets healthy counts as a failure of the update.
 */
export function updatePolicies(
  health: HealthSpec,
  opts: UpdateOptions = {},
): { update: UpdatePolicy; rollback: UpdatePolicy } {
  const monitorMs = health.startTimeoutMs + health.intervalMs * (health.unhealthyThreshold + 1);
  const order = opts.order ?? 'start-first';
  const parallelism = opts.parallelism ?? 1;
  return {
    update: {
      Parallelism: parallelism,
      FailureAction: 'rollback',
      Monitor: monitorMs * MS,
      MaxFailureRatio: 0,
      Order: order,
    },
    rollback: {
      Parallelism: parallelism,
      FailureAction: 'pause',
      Monitor: monitorMs * MS,
      MaxFailureRatio: 0,
      Order: order,
    },
  };
}

/**
 * The failed task of a release that fails its start, if any. The app's own failure (it exited, its check failed, its
 * image is missing) counts at once. The engine failing to start a container ("starting container failed": runc
 * losing its init pipe under load, a mount not ready) is retried by the service's restart policy, so up to one
 * such failure per replica is waited out; more than that is not passing.
 */
export function fatalTask(failed: readonly SwarmTask[], replicas: number): SwarmTask | undefined {
  const engine = (t: SwarmTask) => /^starting container failed/.test(t.Status.Err ?? '');
  return failed.find((t) => !engine(t)) ?? (failed.length > replicas ? failed[0] : undefined);
}
