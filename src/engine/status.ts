import type { InstanceView } from '../store/instances-repo.js';
import { tailLines } from '../runtime/log-files.js';
import type { LastExit } from './instance-manager.js';

/** One row of `berth ps`: the API's and `--json`'s shape. */
export interface InstanceStatus {
  /** 'static': files the proxy serves (no process, no port); absent for a process. */
  readonly kind?: 'static';
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly instance: number;
  /** The release this instance runs, and whether that release is the one serving. */
  readonly release: number;
  readonly current: boolean;
  readonly state: string;
  readonly desired: string;
  readonly pid: number | null;
  readonly port: number | null;
  /** Milliseconds since the process started, while it runs. */
  readonly uptimeMs: number | null;
  readonly restarts: number;
  readonly since: number;
  readonly lastExit: LastExit | null;
  /** The last log lines, for instances that are down when they should be up. */
  readonly lastLines?: readonly string[];
}

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

export function instanceStatus(v: InstanceView, logFile: string, now: number): InstanceStatus {
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
  };
  return DOWN.has(v.state) && v.desired === 'running' ? { ...status, lastLines: tailLines(logFile, 10) } : status;
}
