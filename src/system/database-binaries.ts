import { accessSync, constants } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { DatabaseSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';

/** The programs of one database engine and version on this host, all found and executable. */
export interface DatabaseBinaries {
  /** The directory they are in: /usr/lib/postgresql/<v>/bin, or Redis's (/usr/bin). */
  readonly dir: string;
  /** The server: `postgres` or `redis-server`. */
  readonly server: string;
  /** The client: `psql` or `redis-cli`. */
  readonly client: string;
  /** PostgreSQL only: initdb, pg_dump and pg_restore of the same major version as the server. */
  readonly initdb?: string;
  readonly dump?: string;
  readonly restore?: string;
}

/** Where Debian's postgresql-<v> keeps its programs; overridden by BERTH_POSTGRES_ROOT (a directory holding <v>/bin). */
function postgresRoot(): string {
  return process.env.BERTH_POSTGRES_ROOT || '/usr/lib/postgresql';
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Redis's major version by its `--version`, remembered per program. */
const redisVersions = new Map<string, string>();

/**
 * The host's programs for `db`, or an error that names the Debian package to install. The
 * PostgreSQL tools come from the same version's directory, so pg_dump's major version always
 * matches the server's. `tools`: only the clients (pg_dump, pg_restore, psql), as a cluster run
 * from an image (`image: postgres:<v>`) needs them here, of its major version.
 */
export function databaseBinaries(
  db: DatabaseSpec,
  service: string,
  need: 'server' | 'tools' = 'server',
): DatabaseBinaries {
  if (db.engine === 'postgres') {
    const dir = path.join(postgresRoot(), db.version, 'bin');
    const tool = (name: string) => path.join(dir, name);
    const tools = need === 'tools' || db.image !== undefined; // a cluster run from an image needs only the clients here
    const missing = [...(tools ? [] : ['postgres', 'initdb']), 'pg_dump', 'pg_restore', 'psql'].filter(
      (n) => !executable(tool(n)),
    );
    const pkg = tools ? `postgresql-client-${db.version}` : `postgresql-${db.version}`;
    if (missing.length > 0)
      throw new BerthError(
        'unavailable',
        'database_missing',
        `service "${service}" needs PostgreSQL ${db.version}${tools ? "'s client tools (backups, copies, restores: their major version matches the server's)" : ''}, and ${dir} has no ${missing.join(', ')}`,
        { hint: `install Debian's ${pkg} (apt-get install ${pkg}), then try again` },
      );
    return {
      dir,
      server: tool('postgres'),
      client: tool('psql'),
      initdb: tool('initdb'),
      dump: tool('pg_dump'),
      restore: tool('pg_restore'),
    };
  }
  const dir = '/usr/bin';
  const server = path.join(dir, 'redis-server');
  const client = path.join(dir, 'redis-cli');
  if (!executable(server) || !executable(client))
    throw new BerthError(
      'unavailable',
      'database_missing',
      `service "${service}" needs Redis ${db.version}, and ${dir} has no redis-server or redis-cli`,
      { hint: "install Debian's redis-server (apt-get install redis-server), then deploy again" },
    );
  let major = redisVersions.get(server);
  if (major === undefined) {
    const out = execFileSync(server, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    major = /v=(\d+)\./.exec(out)?.[1] ?? '?';
    redisVersions.set(server, major);
  }
  if (major !== db.version)
    throw new BerthError(
      'unavailable',
      'database_version',
      `service "${service}" asks for Redis ${db.version}, and this host's redis-server is Redis ${major}`,
      { hint: `set redis: ${major} in berth.yaml, or install Redis ${db.version}` },
    );
  return { dir, server, client };
}
