import { parseImageRef } from '../core/image-ref.js';
import { pullProblems } from './manifest-containers.js';
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
  'image',
  'pull',
  'registry_auth',
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
  problems.push(...imageProblems(at, svc));
  const h = svc.health;
  if (h?.http !== undefined || h?.tcp !== undefined)
    problems.push({
      path: [...at, 'health'],
      message: `a managed database is probed with its own protocol (${db.engine === 'postgres' ? 'as pg_isready' : 'AUTH and PING'})`,
      hint: 'remove http/tcp; start_timeout, interval and unhealthy_threshold may be set',
    });
  return problems;
}

/**
 * `image:` on a database: PostgreSQL only, its tag naming the same major version as `postgres:`
 * (the version is what the data is kept in: a tag that may move to another major would break it),
 * `pull` and `registry_auth` only with it.
 */
function imageProblems(at: readonly string[], svc: ServiceInput): Problem[] {
  if (svc.image === undefined) {
    const stray = (['pull', 'registry_auth'] as const).filter((k) => svc[k] !== undefined);
    return stray.map((k) => ({
      path: [...at, k],
      atKey: true,
      message: `\`${k}\` applies to a database run from an image (\`image:\`)`,
      hint: `remove it, or add e.g. image: "postgres:${String(svc.postgres ?? 15)}"`,
    }));
  }
  if (svc.postgres === undefined)
    return [
      {
        path: [...at, 'image'],
        atKey: true,
        message: "`image:` on a managed database applies to PostgreSQL only: Redis runs from the host's redis-server",
        hint: 'remove image, or run the image as a container service of its own (without `redis:`)',
      },
    ];
  const version = String(svc.postgres);
  const tag = parseImageRef(svc.image).tag;
  const major = /^(\d+)(?:[.-]|$)/.exec(tag ?? '')?.[1];
  const problems = pullProblems(at, svc, false);
  if (major !== version)
    problems.push({
      path: [...at, 'image'],
      message:
        major === undefined
          ? `the image's tag must name PostgreSQL's major version (${version}): "${svc.image}" does not, and its data is kept in that version`
          : `the image "${svc.image}" is PostgreSQL ${major}, and \`postgres:\` says ${version}`,
      hint: `e.g. image: "postgres:${version}" (or postgres:${version}-alpine, postgres:${version}.4@sha256:...)`,
    });
  return problems;
}
