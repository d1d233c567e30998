import type { Generated } from 'kysely';

/** Table types. Times are milliseconds since the epoch. */
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
}

export interface ServicesTable {
  id: Generated<number>;
  environment_id: number;
  name: string;
  /** The normalised ServiceSpec as JSON. */
  spec: string;
  position: number;
}

export interface InstancesTable {
  id: Generated<number>;
  service_id: number;
  idx: number;
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
  /** JSON { code, signal, at } of the last exit, or null. */
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
  services: ServicesTable;
  instances: InstancesTable;
  port_leases: PortLeasesTable;
  events: EventsTable;
}
