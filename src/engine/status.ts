import type { ServiceSpec } from '../config/manifest-types.js';
import type { InstanceView } from '../store/instances-repo.js';
import { tailLines } from '../runtime/log-files.js';
import type { InstanceStatus, LastExit, SwarmTaskInfo } from '../core/results.js';
import { taskTime, type TimedTask } from '../doctor/swarm-facts.js';

/** The row of a static service of a serving release: the proxy serves its files, nothing runs. */
export function staticStatus(
  app: string,
  env: string,
  service: string,
  release: number,
  since: number,
): InstanceStatus {
  return {
    kind: 'static',
    app,
    env,
    service,
    instance: 0,
    release,
    current: true,
    state: 'static',
    desired: 'running',
    pid: null,
    port: null,
    uptimeMs: null,
    restarts: 0,
    since,
    lastExit: null,
  };
}

const DOWN = new Set(['crashloop', 'backoff', 'exited', 'failed', 'unhealthy']);

/** `logFile` is asked only for an instance that is down (its last lines): a path per row was a third of `ps`'s CPU at 1,000. */
export function instanceStatus(v: InstanceView, logFile: () => string, now: number): InstanceStatus {
  const running = v.state === 'healthy' || v.state === 'unhealthy' || v.state === 'starting';
  const status: InstanceStatus = {
    app: v.app,
    env: v.env,
    service: v.service,
    instance: v.idx,
    release: v.release,
    current: v.current,
    state: v.state,
    desired: v.desired,
    pid: v.pid,
    port: v.port,
    uptimeMs: running && v.startedAt !== null ? Math.max(0, now - v.startedAt) : null,
    restarts: v.restarts,
    since: v.stateSince,
    lastExit: v.lastExit ? (JSON.parse(v.lastExit) as LastExit) : null,
    ...containerImage(v.spec),
  };
  return DOWN.has(v.state) && v.desired === 'running' ? { ...status, lastLines: tailLines(logFile(), 10) } : status;
}

/** `{ image }` of a container instance's spec, `{}` for a process (whose spec is not parsed for it). */
function containerImage(spec: string): { image?: string } {
  if (!spec.includes('"kind":"container"')) return {};
  const image = (JSON.parse(spec) as ServiceSpec).container?.image;
  return image ? { image } : {};
}

/** Where a Swarm task belongs and runs: read from its labels and the swarm's nodes by the caller (swarm-tasks.ts). */
export interface TaskPlace {
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly release: number;
  readonly current: boolean;
  readonly node: string;
  readonly address: string | null;
  /** Failed tasks Swarm still keeps of the same slot: the restarts it made. */
  readonly restarts: number;
}

const TASK_DOWN = new Set(['failed', 'rejected', 'orphaned']);

/** The row of a Swarm task: the fields of a host instance (`instance` is its slot), and `swarm` for the rest. */
export function swarmTaskStatus(t: TimedTask, p: TaskPlace, now: number): InstanceStatus {
  const state = t.Status.State;
  const since = taskTime(t);
  const why = t.Status.Err || (state === 'running' ? '' : t.Status.Message) || '';
  const check = t.Spec.ContainerSpec.Healthcheck?.Test[0];
  const health =
    check === undefined || check === 'NONE'
      ? 'none'
      : state === 'running'
        ? 'healthy'
        : state === 'starting'
          ? 'starting'
          : '-';
  const info: SwarmTaskInfo = { task: t.ID, node: p.node, address: p.address, health, ...(why ? { error: why } : {}) };
  const exit = t.Status.ContainerStatus?.ExitCode;
  const down = TASK_DOWN.has(state);
  return {
    kind: 'swarm',
    image: t.Spec.ContainerSpec.Image,
    app: p.app,
    env: p.env,
    service: p.service,
    instance: t.Slot ?? 0,
    release: p.release,
    current: p.current,
    state,
    desired: t.DesiredState,
    pid: null,
    port: t.Status.PortStatus?.Ports?.[0]?.PublishedPort ?? null,
    uptimeMs: state === 'running' && since > 0 ? Math.max(0, now - since) : null,
    restarts: p.restarts,
    since,
    lastExit: down ? { code: exit ?? null, signal: null, at: since, ...(why ? { note: why } : {}) } : null,
    swarm: info,
  };
}
