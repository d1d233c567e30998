import type { SwarmSettings } from './manifest-swarm.js';
import type { BackupSpec } from './manifest-backup.js';

/** The frozen, normalised form of a berth.yaml. Durations are milliseconds; defaults applied. */
export interface Manifest {
  readonly app: string;
  /** Services in manifest order. */
  readonly services: readonly ServiceSpec[];
  /** URLs told when a deployment ends. */
  readonly notify: readonly string[];
  /** Declared environments, in manifest order; empty when the manifest has none. */
  readonly environments: readonly EnvironmentSpec[];
  /** Scheduled jobs (`cron:`), in manifest order; empty when there are none. */
  readonly cron: readonly CronJobSpec[];
  /** `backup:`, defaults applied; null when the manifest has none (no scheduled backups). */
  readonly backup: BackupSpec | null;
}

/** One `cron:` job: a command berthd runs on schedule in the current release, as `service` runs. */
export interface CronJobSpec {
  readonly name: string;
  /** 5-field cron syntax or a nickname, in UTC (see config/cron-schedule). */
  readonly schedule: string;
  /** The argv to execute: `["sh", "-c", <run>]` for a string, the list itself otherwise. */
  readonly argv: readonly string[];
  /** The service whose cwd, env, secrets and user it runs with (resolved: never empty). */
  readonly service: string;
  /** Whether a run may start while the previous one still runs (default false: it is skipped). */
  readonly overlap: boolean;
}

export interface EnvironmentSpec {
  readonly name: string;
  /** A branch name, or a pattern with "*". */
  readonly branch: string;
  /** True when `branch` has a "*": one environment per matching branch. */
  readonly pattern: boolean;
  /** Route host template ({branch}, {host}, {service}, {app}), or null for the hosts as written. */
  readonly hostname: string | null;
  readonly data: { readonly kind: 'empty' } | { readonly kind: 'copy'; readonly from: string };
  readonly expireMs: number | null;
  readonly env: Readonly<Record<string, string>>;
}

/** What a process service installs in its release (`deps:`). */
export type DepsKind = 'auto' | 'python' | 'node' | 'none';

export type RestartPolicy = 'always' | 'on-failure' | 'never';

export interface ServiceSpec {
  readonly name: string;
  /**
   * 'process' runs `argv`; 'static' has no process: the proxy serves `static.dir`; 'container'
   * runs `container.image` through the container engine (`argv`, when not empty, is its command);
   * 'postgres' and 'redis' are managed data stores (`database`), run by Berth from the host's binaries.
   */
  readonly kind: 'process' | 'static' | 'container' | 'postgres' | 'redis';
  /** The argv to execute: `["sh", "-c", <run>]` for a string, the list itself otherwise; [] for static. */
  readonly argv: readonly string[];
  /** For containers: the image and how it runs; null for the other kinds. */
  readonly container: ContainerSpec | null;
  /** For `postgres:` and `redis:`: the engine and its major version; absent or null for the other kinds. */
  readonly database?: DatabaseSpec | null;
  /** For static services: the directory (relative to the source root) and SPA fallback. */
  readonly static: { readonly dir: string; readonly spa: boolean } | null;
  /** Working directory relative to the app's source root ("." by default). */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** 'auto' leases a port, a number pins one, 'none' is a worker without a port. */
  readonly port: 'auto' | 'none' | number;
  readonly restart: RestartPolicy;
  readonly dependsOn: readonly string[];
  readonly instances: number;
  readonly stopTimeoutMs: number;
  /** Build commands (each run with `sh -c` in the release's cwd), in order. */
  readonly build: readonly string[];
  /**
   * Dependencies installed in each release before `build` (see deploy/deps-steps): 'auto' as written,
   * resolved by a deploy to what the source holds; absent in releases recorded before it existed (none).
   */
  readonly deps?: DepsKind;
  /** Set by the deploy's build step: the digest of the build's inputs, which a later release with equal inputs reuses. */
  readonly buildKey?: string;
  /** Set by the build step: the digest of what its installed dependencies are made of (see deploy/deps-reuse). */
  readonly depsKey?: string;
  /** The release hook's argv (`["sh", "-c", <release>]` for a string), run once per deploy before any start; null: none. */
  readonly release: readonly string[] | null;
  /** Resolved: 'recreate' for `port: none` and pinned ports unless set. */
  readonly strategy: 'blue-green' | 'recreate';
  readonly drainMs: number;
  readonly routes: readonly RouteSpec[];
  readonly health: HealthSpec;
  /** Limits of each instance (cgroups); absent when the manifest sets none. */
  readonly resources?: ResourceLimits;
  /** `placement:` and `update:` for a swarm (host setting scheduler: swarm); absent when the manifest sets neither. */
  readonly swarm?: SwarmSettings;
}

/** A managed data store (see engine/databases): one per environment, kept across releases. */
export interface DatabaseSpec {
  readonly engine: 'postgres' | 'redis';
  /** The major version, e.g. "15" (PostgreSQL) or "7" (Redis). */
  readonly version: string;
  /**
   * PostgreSQL only: the container image it runs from (`image: postgres:15`) instead of the host's
   * binaries; the service's `container` then holds its pull policy and the id the deploy pinned.
   */
  readonly image?: string;
}

/** How a container service runs (see runtime/container-runner.ts). */
export interface ContainerSpec {
  /** The image reference (`image:`); null when the service builds its own (`build: { dockerfile }`). */
  readonly image: string | null;
  /** `build:` in its object form: a Dockerfile build of the release snapshot; null with `image:` alone. */
  readonly build: ContainerBuildSpec | null;
  /**
   * Set by the deploy's build step for a `build:` service (with `image` its tag berth/<app>-<env>:<release>),
   * or by its pull step for an `image:`: the engine's id of the image, which the container runs, so a
   * rollback runs the same bytes (also after the tag moved).
   */
  readonly imageId?: string;
  /** For `image:` alone: when a deploy pulls it (`pull:`, its default resolved). Absent in releases recorded before pulls. */
  readonly pull?: 'always' | 'missing';
  /** `registry_auth:`: the user name or its secret's name, and the password's secret's name; never a secret's value. */
  readonly registryAuth?: RegistryAuthSpec | null;
  /** Set by the deploy's pull step: the registry digest of the image pulled (repo@sha256:...), when it has one. */
  readonly digest?: string;
  /** Where it listens inside (`container_port`), published on 127.0.0.1:<leased port>; null with `port: none`. */
  readonly port: number | null;
  /** Replaces the image's entrypoint; null keeps the image's. */
  readonly entrypoint: readonly string[] | null;
  /** The user[:group] it runs as (`user:`); null keeps the image's USER. */
  readonly user?: string | null;
  /** Directories under the environment's $DATA_DIR mounted in the container, by path inside. */
  readonly volumes: readonly { readonly target: string; readonly name: string }[];
}

export interface RegistryAuthSpec {
  readonly username: string | null;
  readonly usernameSecret: string | null;
  readonly passwordSecret: string;
}

export interface ContainerBuildSpec {
  /** Relative to `context`. Default "Dockerfile". */
  readonly dockerfile: string;
  /** Relative to the release snapshot. Default ".". */
  readonly context: string;
  readonly args: Readonly<Record<string, string>>;
  readonly target: string | null;
}

/** What one instance may use, all its processes together; a limit that is absent is not set. */
export interface ResourceLimits {
  readonly memoryBytes?: number;
  /** CPUs' worth of time per period, e.g. 1.5. */
  readonly cpu?: number;
  readonly pids?: number;
}

export interface RouteSpec {
  readonly host: string;
  /** Path prefix; "/" by default. */
  readonly path: string;
  readonly strip: boolean;
  /** HTTPS at an edge proxy: 'auto' (default), 'internal' (a private CA), 'off'. */
  readonly tls: 'auto' | 'internal' | 'off';
}

export type ProbeSpec =
  | { readonly kind: 'process' }
  | { readonly kind: 'listening' }
  | { readonly kind: 'tcp' }
  /** A managed database's own protocol: PostgreSQL's startup message (as pg_isready), Redis's AUTH and PING. */
  | { readonly kind: 'postgres' }
  | { readonly kind: 'redis' }
  | { readonly kind: 'http'; readonly path: string; readonly status: number | undefined };

export interface HealthSpec {
  readonly probe: ProbeSpec;
  readonly startTimeoutMs: number;
  readonly intervalMs: number;
  readonly unhealthyThreshold: number;
}

/** Defaults from DESIGN.md, in one place. */
export const DEFAULTS = Object.freeze({
  stopTimeoutMs: 10_000,
  startTimeoutMs: 60_000,
  healthIntervalMs: 10_000,
  unhealthyThreshold: 3,
  drainMs: 30_000,
});
