import type { Generated } from 'kysely';

/** Table types. Times are milliseconds since the epoch. JSON columns hold text. */
export interface AppsTable {
  id: Generated<number>;
  name: string;
  source_dir: string;
  manifest_file: string;
  created_at: number;
  updated_at: number;
}

export interface EnvironmentsTable {
  id: Generated<number>;
  app_id: number;
  name: string;
  created_at: number;
  /** The release whose instances receive traffic; null before the first deploy succeeds. */
  current_release_id: number | null;
  /** The branch it runs; null when the manifest declares no environments. */
  branch: string | null;
  /** The manifest environment (`environments.<name>`) it was made from; null as for branch. */
  definition: string | null;
}

export interface ReleasesTable {
  id: Generated<number>;
  environment_id: number;
  /** 1, 2, 3... per environment. */
  number: number;
  /** Snapshot + build output, immutable once built. */
  dir: string;
  /** The normalised Manifest (JSON). */
  manifest: string;
  /** Where it came from (JSON): { dir, ref?, commit? }. */
  source: string;
  created_at: number;
}

export interface DeploymentsTable {
  id: Generated<number>;
  environment_id: number;
  release_id: number | null;
  /** 'deploy' | 'rollback'. */
  kind: string;
  /** 'running' | 'succeeded' | 'failed' | 'interrupted'. */
  status: string;
  /** The journal (JSON): the plan's steps with status, timing, undo data. */
  steps: string;
  error: string | null;
  started_at: number;
  finished_at: number | null;
}

export interface InstancesTable {
  id: Generated<number>;
  environment_id: number;
  release_id: number;
  service: string;
  idx: number;
  /** The ServiceSpec this instance runs (JSON), from its release. */
  spec: string;
  /** The release directory its cwd is resolved under. */
  root_dir: string;
  /** 'running' or 'stopped': what the user asked for. */
  desired: string;
  /** The InstanceState: what is. */
  state: string;
  state_since: number;
  pid: number | null;
  /** /proc starttime of pid, so a reused pid is never mistaken for ours. */
  start_ticks: string | null;
  port: number | null;
  restarts: number;
  /** JSON { code, signal, at, note } of the last exit or health failure, or null. */
  last_exit: string | null;
  started_at: number | null;
}

export interface PortLeasesTable {
  host: string;
  port: number;
  instance_id: number;
  created_at: number;
}

export interface EventsTable {
  id: Generated<number>;
  at: number;
  app: string;
  environment: string | null;
  service: string | null;
  kind: string;
  message: string;
}

export interface Database {
  apps: AppsTable;
  environments: EnvironmentsTable;
  releases: ReleasesTable;
  deployments: DeploymentsTable;
  instances: InstancesTable;
  port_leases: PortLeasesTable;
  events: EventsTable;
}
