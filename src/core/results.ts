/**
 * What berthd answers and the CLI renders: the result types of the API, in one module both
 * use, so the CLI imports no engine code. Pure types, no IO.
 */

export interface LastExit {
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: number;
  readonly note?: string;
  /** Set when the kernel killed a process of the instance for going over its memory limit (`resources.memory`). */
  readonly oom?: { readonly limitBytes: number };
}

/** One row of `berth ps`: the API's and `--json`'s shape. */
export interface InstanceStatus {
  /** 'static': files the proxy serves (no process, no port); 'swarm': a task on a Swarm node; absent for a process. */
  readonly kind?: 'static' | 'swarm';
  /** A container's image (`image:`); absent for a process. */
  readonly image?: string;
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
  /** A Swarm task's (kind 'swarm'; `instance` is its slot, `state` Swarm's: running, starting, failed...). */
  readonly swarm?: SwarmTaskInfo;
}

/** Where a Swarm task runs and how it is doing, beside the fields it shares with a host instance. */
export interface SwarmTaskInfo {
  readonly task: string;
  /** The node's name in the swarm (its hostname unless named). */
  readonly node: string;
  /** The node's address and the task's published port: where the edge sends requests; null until published. */
  readonly address: string | null;
  /** healthy (running: Swarm holds a task in starting until its check passes), starting, none (no check), or '-'. */
  readonly health: string;
  /** Swarm's error or message for the task's state (why it failed, what it waits for). */
  readonly error?: string;
}

/** A step as reported to users: `berth deploy --json`, `berth releases`. */
export interface StepResult {
  readonly name: string;
  readonly status: string;
  readonly ms: number | null;
  readonly error?: string;
  /** What else the step has to say: a recreate service's downtime. */
  readonly detail?: string;
}

/** The outcome of a deployment, never an implicit flag. */
export interface DeployResult {
  readonly id: number | null;
  readonly app: string;
  readonly env: string;
  readonly kind: 'deploy' | 'rollback';
  readonly release: number | null;
  /** 'unchanged': the source and manifest equal the current release's; nothing ran. */
  readonly status: 'succeeded' | 'failed' | 'interrupted' | 'unchanged' | 'running';
  readonly steps: readonly StepResult[];
  readonly error?: string;
  readonly warnings?: readonly string[];
}

/** An environment as `berth env ls` shows it. */
export interface EnvironmentStatus {
  readonly app: string;
  readonly name: string;
  /** The branch it runs; null for an app without declared environments. */
  readonly branch: string | null;
  /** The manifest environment it was made from. */
  readonly definition: string | null;
  /** True when made from a branch pattern (a preview). */
  readonly preview: boolean;
  readonly release: number | null;
  readonly hosts: readonly string[];
  readonly instances: { readonly healthy: number; readonly total: number };
  readonly createdAt: number;
  readonly lastDeployAt: number | null;
  /** When the daemon removes it for being idle, if its environment expires. */
  readonly expiresAt: number | null;
  readonly dataDir: string;
}

/** A process of this BERTH_HOME's proxy that is not the one Berth runs (a duplicate, an orphan). */
export interface LeftoverProcess {
  readonly pid: number;
  readonly command: string;
  /** "Caddy", "the builtin proxy", ... */
  readonly what: string;
}

export interface ProxyStatus {
  readonly kind: string;
  readonly running: boolean;
  readonly pid?: number;
  readonly port?: number;
  /** Every port it listens on: public HTTP, public HTTPS (an edge), internal (the builtin proxy behind an edge). */
  readonly ports?: { readonly http: number; readonly https?: number; readonly internal?: number };
  /** Behind an edge: the pid of the builtin proxy it forwards to. */
  readonly internalPid?: number;
  readonly version?: number;
  readonly routes?: number;
  /** Why it is not running, when it is not. */
  readonly problem?: string;
  /** Processes of this BERTH_HOME's proxy besides the ones Berth runs (they hold ports with an old config). */
  readonly leftovers?: readonly LeftoverProcess[];
  /** Checks berthd's watcher made of the proxy since berthd started (one a second). */
  readonly watched?: number;
}
