import type { DatabaseSpec, ServiceSpec } from '../../config/manifest-types.js';
import { BerthError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import type { HomeLayout } from '../../system/paths.js';
import { discoveryPrefix } from '../launch-env.js';
import { databaseDir, passwordSecret, POSTGRES_DATABASE, POSTGRES_USER, socketDir } from './layout.js';
import { compareText } from '../../core/names.js';

/**
 * How to reach one managed database of an environment: what its dependents get as variables,
 * `berth db url` prints, and a backup or restore uses (see databaseConnections).
 */
export interface DatabaseConnection {
  readonly service: string;
  readonly engine: DatabaseSpec['engine'];
  /** The major version: its tools (pg_dump, pg_restore) are those of /usr/lib/postgresql/<version>/bin. */
  readonly version: string;
  /** The instance that runs it (one per environment and service). */
  readonly instanceId: number;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Its unix socket's directory (PostgreSQL: .s.PGSQL.<port>; Redis: redis.sock). */
  readonly socketDir: string;
  /** PostgreSQL's role and database; null for Redis. */
  readonly user: string | null;
  readonly database: string | null;
  /** The environment's secret holding the password. */
  readonly passwordSecret: string;
  readonly password: string;
  /** The database's own directory (`$DATA_DIR/.berth/<service>`: pgdata/ or redis/ in it). */
  readonly dataDir: string;
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres or redis://default:<password>@127.0.0.1:<port>/0 (redis-cli 7.0 refuses an empty user). */
  readonly url: string;
}

export interface ConnectionDeps {
  readonly store: Store;
  readonly layout: HomeLayout;
  /** The password of a database: the environment's own secret `name`, made when missing. */
  readonly password: (app: string, env: string, name: string) => Promise<string>;
}

export function isDatabase(spec: Pick<ServiceSpec, 'kind'>): spec is ServiceSpec & { kind: 'postgres' | 'redis' } {
  return spec.kind === 'postgres' || spec.kind === 'redis';
}

/** The managed databases of an environment that have a running instance, in service order. */
export async function databaseConnections(d: ConnectionDeps, app: string, env: string): Promise<DatabaseConnection[]> {
  const out: DatabaseConnection[] = [];
  for (const v of await d.store.instances.list({ app, env })) {
    const spec = JSON.parse(v.spec) as ServiceSpec;
    if (!isDatabase(spec) || !spec.database || v.port === null || v.desired !== 'running') continue;
    const secret = passwordSecret(v.service);
    const password = await d.password(app, env, secret);
    const pg = spec.database.engine === 'postgres';
    const auth = encodeURIComponent(password);
    out.push({
      service: v.service,
      engine: spec.database.engine,
      version: spec.database.version,
      instanceId: v.id,
      host: '127.0.0.1',
      port: v.port,
      socketDir: socketDir(d.layout, app, env, v.service),
      user: pg ? POSTGRES_USER : null,
      database: pg ? POSTGRES_DATABASE : null,
      passwordSecret: secret,
      password,
      dataDir: databaseDir(d.layout, app, env, v.service),
      url: pg
        ? `postgres://${POSTGRES_USER}:${auth}@127.0.0.1:${v.port}/${POSTGRES_DATABASE}`
        : `redis://default:${auth}@127.0.0.1:${v.port}/0`,
    });
  }
  return out.sort((a, b) => compareText(a.service, b.service));
}

/** One database of an environment (`service`, or its only one), or an error that names those it has. */
export async function databaseConnection(
  d: ConnectionDeps,
  app: string,
  env: string,
  service?: string,
): Promise<DatabaseConnection> {
  const all = await databaseConnections(d, app, env);
  const found =
    service === undefined ? (all.length === 1 ? all[0] : undefined) : all.find((c) => c.service === service);
  if (found) return found;
  throw new BerthError(
    'not_found',
    'database_not_found',
    service === undefined && all.length > 1
      ? `${app} (${env}) has several databases: ${all.map((c) => c.service).join(', ')}`
      : `${app} (${env}) has no running database${service === undefined ? '' : ` "${service}"`}`,
    {
      hint:
        all.length > 1
          ? 'name the service: berth db url <app> <service>'
          : 'a service with `postgres: 15` or `redis: 7` in berth.yaml, deployed, is one',
    },
  );
}

/**
 * What a service gets of the databases it depends on: <NAME>_URL (the connection URL), _HOST
 * and _PORT for each; DATABASE_URL and PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE for the
 * first PostgreSQL in its depends_on; REDIS_URL for the first Redis. A value the service sets
 * in env wins.
 */
export function databaseEnv(spec: ServiceSpec, connections: readonly DatabaseConnection[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const dep of [...spec.dependsOn].reverse()) {
    const c = connections.find((x) => x.service === dep);
    if (!c) continue;
    const name = discoveryPrefix(dep);
    Object.assign(env, { [`${name}_URL`]: c.url, [`${name}_HOST`]: c.host, [`${name}_PORT`]: String(c.port) });
    if (c.engine === 'redis') env.REDIS_URL = c.url;
    else
      Object.assign(env, {
        DATABASE_URL: c.url,
        PGHOST: c.host,
        PGPORT: String(c.port),
        PGUSER: c.user,
        PGPASSWORD: c.password,
        PGDATABASE: c.database,
      });
  }
  for (const key of Object.keys(spec.env)) delete env[key];
  return env;
}
