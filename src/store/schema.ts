import type { AlertIncidentsTable } from './alerts-repo.js';
import type { MetricsTokensTable } from './metrics-repo.js';
import type { BackupsTable, RestoresTable } from './backups-repo.js';
import type { Generated } from 'kysely';

/** Table types. Times are milliseconds since the epoch. JSON columns hold text. */
export interface AppsTable {
  id: Generated<number>;
  name: string;
  source_dir: string;
  manifest_file: string;
  created_at: number;
  updated_at: number;
  /** The organisation it belongs to (null only while a migration runs). */
  org_id: number | null;
}

export interface OrgsTable {
  id: Generated<number>;
  name: string;
  /** Quotas: null is unlimited. */
  max_apps: number | null;
  max_instances: number | null;
  created_at: number;
}

export interface UsersTable {
  id: Generated<number>;
  name: string;
  /** argon2id, PHC string. */
  password_hash: string;
  created_at: number;
}

export interface MembershipsTable {
  org_id: number;
  user_id: number;
  /** 'owner' | 'admin' | 'member' | 'viewer'. */
  role: string;
  created_at: number;
}

export interface TokensTable {
  id: Generated<number>;
  user_id: number;
  /** 'api' (Authorization: Bearer) or 'session' (the dashboard's cookie, with a CSRF token). */
  kind: string;
  name: string;
  /** SHA-256 (hex) of the secret; the secret itself is shown once and never stored. */
  secret_hash: string;
  csrf_hash: string | null;
  /** Scope: only this organisation (null: every organisation of the user), at most this role. */
  org_id: number | null;
  role_ceiling: string | null;
  expires_at: number;
  created_at: number;
  last_used_at: number | null;
}

export interface InvitesTable {
  id: Generated<number>;
  org_id: number;
  role: string;
  secret_hash: string;
  created_by: number | null;
  expires_at: number;
  created_at: number;
  used_at: number | null;
  used_by: number | null;
}

export interface SecretsTable {
  app_id: number;
  /** An environment's name, or '' for every environment of the app. */
  env: string;
  name: string;
  /** base64(iv | tag | AES-256-GCM ciphertext); the key lives in BERTH_HOME/secrets.key. */
  sealed: string;
  updated_at: number;
}

export interface WebhooksTable {
  app_id: number;
  sealed: string;
  created_at: number;
}

export interface WebhookDeliveriesTable {
  app_id: number;
  delivery: string;
  received_at: number;
}

export interface SitesTable {
  slug: string;
  org_id: number;
  template: string;
  host: string;
  /** 'creating' until every step is done, then 'active'. */
  status: string;
  created_by: string;
  created_at: number;
}

export interface AuditTable {
  id: Generated<number>;
  at: number;
  /** "local" (the unix socket: root on the host), "user:<name>", or "anonymous". */
  actor: string;
  org: string | null;
  action: string;
  target: string;
  /** The HTTP status, or a word. */
  outcome: string;
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

/** The stable address of a service of a release that others depend on (see engine/service-addresses.ts). */
export interface ServiceAddressesTable {
  release_id: number;
  service: string;
  /** This host's name, as in port_leases. */
  host: string;
  port: number;
  created_at: number;
}

export interface ReleaseAttemptsTable {
  /** By name, not by row: a failed first deploy's attempt outlives its app. */
  app: string;
  env: string;
  /** Unique per (app, env), never reused. */
  number: number;
  /** 'running' | 'succeeded' | 'failed' | 'interrupted'. */
  status: string;
  error: string | null;
  started_at: number;
  finished_at: number | null;
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

export interface CronRunsTable {
  id: Generated<number>;
  environment_id: number;
  job: string;
  /** The minute the run was due (ms since the epoch, on the scheduler's clock): claimed once, never run twice. */
  due_at: number;
  /** The release it ran in. */
  release: number;
  /** 'running' | 'succeeded' | 'failed' | 'skipped' | 'unknown' (it ended while no berthd watched it). */
  status: string;
  started_at: number;
  finished_at: number | null;
  exit_code: number | null;
  signal: string | null;
  pid: number | null;
  /** /proc starttime of pid, so a reused pid is never mistaken for the job's. */
  start_ticks: string | null;
  /** Why it was skipped or could not start. */
  note: string | null;
}

export interface Database {
  apps: AppsTable;
  environments: EnvironmentsTable;
  releases: ReleasesTable;
  deployments: DeploymentsTable;
  instances: InstancesTable;
  port_leases: PortLeasesTable;
  service_addresses: ServiceAddressesTable;
  events: EventsTable;
  release_attempts: ReleaseAttemptsTable;
  orgs: OrgsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  tokens: TokensTable;
  invites: InvitesTable;
  audit: AuditTable;
  secrets: SecretsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  sites: SitesTable;
  cron_runs: CronRunsTable;
  backups: BackupsTable;
  restores: RestoresTable;
  alert_incidents: AlertIncidentsTable;
  metrics_tokens: MetricsTokensTable;
}
