import type { ServiceSpec } from '../config/manifest-types.js';
import type { InstanceView } from '../store/instances-repo.js';
import { tailLines } from '../runtime/log-files.js';
import type { InstanceStatus, LastExit } from '../core/results.js';

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
