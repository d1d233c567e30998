import { parseDuration } from './duration.js';
import { swarmSettingsOf } from './manifest-swarm.js';
import { parseSize } from './size.js';
import { defaultPull } from '../core/image-ref.js';
import { normalizeBackup } from './manifest-backup.js';
import type { EnvironmentInput, ManifestInput, ServiceInput } from './manifest-schema.js';
import {
  DEFAULTS,
  type EnvironmentSpec,
  type HealthSpec,
  type Manifest,
  type ContainerSpec,
  type DatabaseSpec,
  type RegistryAuthSpec,
  type ResourceLimits,
  type RouteSpec,
  type ServiceSpec,
} from './manifest-types.js';

type RouteInput = NonNullable<ServiceInput['routes']>[number];

/** "host", "host/path/" or an object, as a RouteSpec. */
export function normalizeRoute(r: RouteInput): RouteSpec {
  if (typeof r === 'string') {
    const slash = r.indexOf('/');
    return slash < 0
      ? { host: r, path: '/', strip: false, tls: 'auto' }
      : { host: r.slice(0, slash), path: r.slice(slash), strip: false, tls: 'auto' };
  }
  return { host: r.host, path: r.path ?? '/', strip: r.strip ?? false, tls: r.tls ?? 'auto' };
}

export function routeKey(r: RouteSpec): string {
  return `${r.host}${r.path}`;
}

/** Applies defaults and resolves shorthands. Input must already be valid. */
export function normalize(m: ManifestInput): Manifest {
  return {
    app: m.app,
    services: Object.entries(m.services).map(([name, s]) => normalizeService(name, s)),
    notify: m.notify ?? [],
    environments: Object.entries(m.environments ?? {}).map(([name, e]) => normalizeEnvironment(name, e)),
    cron: Object.entries(m.cron ?? {}).map(([name, j]) => ({
      name,
      schedule: j.schedule.trim(),
      argv: typeof j.run === 'string' ? ['sh', '-c', j.run] : [...j.run],
      // Checked before: a manifest with cron jobs has a service that runs a process.
      service: j.service ?? (Object.entries(m.services).find(([, s]) => runsProcess(s))?.[0] as string),
      overlap: j.overlap ?? false,
    })),
    backup: normalizeBackup(m.backup),
  };
}

function normalizeEnvironment(name: string, e: EnvironmentInput): EnvironmentSpec {
  return {
    name,
    branch: e.branch,
    pattern: e.branch.includes('*'),
    hostname: e.hostname ?? null,
    data: e.data === undefined || e.data === 'empty' ? { kind: 'empty' } : { kind: 'copy', from: e.data.copy },
    expireMs: e.expire === undefined ? null : (parseDuration(e.expire) ?? null),
    env: Object.fromEntries(Object.entries(e.env ?? {}).map(([k, v]) => [k, String(v)])),
  };
}

function normalizeService(name: string, s: ServiceInput): ServiceSpec {
  const db = databaseOf(s);
  if (db) return normalizeDatabase(name, s, db);
  return {
    name,
    kind: s.static !== undefined ? 'static' : isContainer(s) ? 'container' : 'process',
    argv: s.run === undefined ? [] : typeof s.run === 'string' ? ['sh', '-c', s.run] : [...s.run],
    container: isContainer(s) ? normalizeContainer(s) : null,
    static: s.static !== undefined ? { dir: s.static, spa: s.spa ?? false } : null,
    cwd: s.cwd ?? '.',
    env: Object.fromEntries(Object.entries(s.env ?? {}).map(([k, v]) => [k, String(v)])),
    port: s.static !== undefined ? 'none' : (s.port ?? 'auto'),
    restart: s.restart ?? 'always',
    dependsOn: s.depends_on ?? [],
    instances: s.static !== undefined ? 0 : (s.replicas ?? s.instances ?? 1),
    stopTimeoutMs: parseDuration(s.stop_timeout) ?? DEFAULTS.stopTimeoutMs,
    build: typeof s.build === 'string' ? [s.build] : Array.isArray(s.build) ? [...s.build] : [],
    deps: s.static === undefined && !isContainer(s) ? (s.deps ?? 'auto') : 'none',
    release: s.release === undefined ? null : typeof s.release === 'string' ? ['sh', '-c', s.release] : [...s.release],
    strategy: s.strategy ?? (s.port === 'none' || typeof s.port === 'number' ? 'recreate' : 'blue-green'),
    drainMs: parseDuration(s.drain) ?? DEFAULTS.drainMs,
    routes: (s.routes ?? []).map(normalizeRoute),
    health: normalizeHealth(s.health, s.port === 'none'),
    ...(s.resources !== undefined ? { resources: normalizeResources(s.resources) } : {}),
    ...swarmSettingsOf(s),
  };
}

/** A service whose env a cron job can take: one that runs a process or container (not static, not a managed database). */
export function runsProcess(s: ServiceInput): boolean {
  return s.static === undefined && databaseOf(s) === undefined;
}

/** The managed data store of `postgres:` or `redis:`, if the service is one. */
export function databaseOf(s: ServiceInput): DatabaseSpec | undefined {
  if (s.postgres !== undefined)
    return { engine: 'postgres', version: String(s.postgres), ...(s.image !== undefined ? { image: s.image } : {}) };
  if (s.redis !== undefined) return { engine: 'redis', version: String(s.redis) };
  return undefined;
}

/**
 * A managed database: one instance on a leased port, restarted by policy, probed with its own
 * protocol, stopped with the engine's fast shutdown (given up to a minute by default: a
 * checkpoint is written first). It is never replaced blue-green: see engine/databases.
 */
function normalizeDatabase(name: string, s: ServiceInput, database: DatabaseSpec): ServiceSpec {
  return {
    name,
    kind: database.engine,
    argv: [],
    // `image:` (PostgreSQL): the image the deploy pulls by `pull:` and the cluster runs in (engine/databases/postgres-image).
    container:
      database.image === undefined
        ? null
        : {
            image: database.image,
            build: null,
            pull: s.pull ?? defaultPull(database.image),
            registryAuth: registryAuth(s),
            port: null,
            entrypoint: null,
            user: null,
            volumes: [],
          },
    database,
    static: null,
    cwd: '.',
    env: {},
    port: 'auto',
    restart: s.restart ?? 'always',
    dependsOn: [],
    instances: 1,
    stopTimeoutMs: parseDuration(s.stop_timeout) ?? DATABASE_STOP_TIMEOUT_MS,
    build: [],
    release: null,
    strategy: 'recreate',
    drainMs: 0,
    routes: [],
    health: { ...normalizeHealth(s.health, false), probe: { kind: database.engine } },
    ...(s.resources !== undefined ? { resources: normalizeResources(s.resources) } : {}),
  };
}

/** A database's default stop timeout: its fast shutdown writes a checkpoint first. */
export const DATABASE_STOP_TIMEOUT_MS = 60_000;

/** A container: `image:`, or `build:` in its object form (a Dockerfile build). */
export function isContainer(s: ServiceInput): boolean {
  if (databaseOf(s) !== undefined) return false; // `postgres: 15` with `image:` is a managed database run from that image
  return s.image !== undefined || (s.build !== undefined && typeof s.build === 'object' && !Array.isArray(s.build));
}

function normalizeContainer(s: ServiceInput): ContainerSpec {
  const b = s.build !== undefined && typeof s.build === 'object' && !Array.isArray(s.build) ? s.build : undefined;
  return {
    image: s.image ?? null,
    build: b
      ? {
          dockerfile: b.dockerfile ?? 'Dockerfile',
          context: b.context ?? '.',
          args: Object.fromEntries(Object.entries(b.args ?? {}).map(([k, v]) => [k, String(v)])),
          target: b.target ?? null,
        }
      : null,
    ...(s.image !== undefined && !b ? { pull: s.pull ?? defaultPull(s.image), registryAuth: registryAuth(s) } : {}),
    port: s.port === 'none' ? null : (s.container_port ?? null),
    entrypoint:
      s.entrypoint === undefined ? null : typeof s.entrypoint === 'string' ? [s.entrypoint] : [...s.entrypoint],
    user: s.user ?? null,
    volumes: Object.entries(s.volumes ?? {}).map(([target, name]) => ({ target, name })),
  };
}

function registryAuth(s: ServiceInput): RegistryAuthSpec | null {
  const a = s.registry_auth;
  if (!a) return null;
  return { username: a.username ?? null, usernameSecret: a.username_secret ?? null, passwordSecret: a.password_secret };
}

function normalizeResources(r: NonNullable<ServiceInput['resources']>): ResourceLimits {
  return {
    ...(r.memory !== undefined ? { memoryBytes: parseSize(r.memory) } : {}),
    ...(r.cpu !== undefined ? { cpu: r.cpu } : {}),
    ...(r.pids !== undefined ? { pids: r.pids } : {}),
  };
}

function normalizeHealth(h: ServiceInput['health'], portless: boolean): HealthSpec {
  const http = h?.http;
  const probe: HealthSpec['probe'] =
    http !== undefined
      ? typeof http === 'string'
        ? { kind: 'http', path: http, status: undefined }
        : { kind: 'http', path: http.path, status: http.status }
      : h?.tcp
        ? { kind: 'tcp' }
        : portless
          ? { kind: 'process' }
          : { kind: 'listening' };
  return {
    probe,
    startTimeoutMs: parseDuration(h?.start_timeout) ?? DEFAULTS.startTimeoutMs,
    intervalMs: parseDuration(h?.interval) ?? DEFAULTS.healthIntervalMs,
    unhealthyThreshold: h?.unhealthy_threshold ?? DEFAULTS.unhealthyThreshold,
  };
}
