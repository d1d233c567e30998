import { createHash } from 'node:crypto';
import path from 'node:path';
import { discoveryPrefix } from '../launch-env.js';
import { namedPath, type HomeLayout } from '../../system/paths.js';

/**
 * Where a managed database of an environment lives. Its files are in the environment's data
 * directory, under `.berth/<service>` (a name Berth keeps for itself: the copy of a data
 * directory for a preview and its backups take the databases through their own tools, never
 * file by file): `pgdata` (the PostgreSQL cluster) or `redis` (Redis's append-only files).
 */
export function databaseDir(layout: HomeLayout, app: string, env: string, service: string): string {
  return namedPath(path.join(layout.dataDir(app, env), DATABASES_DIR), ['service', service]);
}

/** The directory of `$DATA_DIR` that holds its managed databases: never copied file by file. */
export const DATABASES_DIR = '.berth';

/**
 * The database's unix socket directory: short and fixed, as a socket's path may have at most
 * 107 bytes (`<BERTH_HOME>/run/<12 hex>/.s.PGSQL.<port>`), whatever the length of the names.
 */
export function socketDir(layout: HomeLayout, app: string, env: string, service: string): string {
  const key = createHash('sha256').update(`${app}/${env}/${service}`).digest('hex').slice(0, 12);
  return path.join(layout.root, 'run', key);
}

/** The environment's secret that holds the database's password: <NAME>_PASSWORD ("db" -> DB_PASSWORD). */
export function passwordSecret(service: string): string {
  return `${discoveryPrefix(service)}_PASSWORD`;
}

/** The role (superuser) and database that a managed PostgreSQL cluster is made with. */
export const POSTGRES_USER = 'postgres';
export const POSTGRES_DATABASE = 'postgres';
