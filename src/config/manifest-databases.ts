import type { Problem } from './manifest-errors.js';
import { databaseOf } from './manifest-normalize.js';
import type { ServiceInput } from './manifest-schema.js';

/**
 * Keys a managed database (`postgres:`, `redis:`) takes besides its version: Berth runs the
 * engine itself (its command, port, probe and strategy are fixed), so everything else of a
 * process service would be a promise Berth does not keep.
 */
const DATABASE_KEYS: ReadonlySet<string> = new Set([
  'postgres',
  'redis',
  'restart',
  'stop_timeout',
  'resources',
  'health',
]);

/** The problems of a service that is a managed database (none for the other kinds). */
export function databaseProblems(name: string, svc: ServiceInput): Problem[] {
  const db = databaseOf(svc);
  if (!db) return [];
  const at = ['services', name];
  const problems: Problem[] = [];
  if (svc.postgres !== undefined && svc.redis !== undefined)
    problems.push({
      path: [...at, 'redis'],
      atKey: true,
      message: 'a service is one database: `postgres` or `redis`, not both',
      hint: 'make two services, e.g. db: { postgres: 15 } and cache: { redis: 7 }',
    });
  const stray = Object.keys(svc).filter((k) => !DATABASE_KEYS.has(k));
  if (stray.length > 0)
    problems.push({
      path: [...at, stray[0] as string],
      atKey: true,
      message: `\`${stray.join('`, `')}\` does not apply to a managed database (\`${db.engine}:\`): Berth runs it itself`,
      hint:
        stray[0] === 'depends_on'
          ? 'put depends_on on the services that use the database: they get its address and password'
          : 'remove it; a database takes restart, stop_timeout, resources and health.start_timeout/interval',
    });
  const h = svc.health;
  if (h?.http !== undefined || h?.tcp !== undefined)
    problems.push({
      path: [...at, 'health'],
      message: `a managed database is probed with its own protocol (${db.engine === 'postgres' ? 'as pg_isready' : 'AUTH and PING'})`,
      hint: 'remove http/tcp; start_timeout, interval and unhealthy_threshold may be set',
    });
  return problems;
}
