import { statSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseSpec, Manifest } from '../../config/manifest-types.js';
import { BerthError } from '../../core/errors.js';
import type { UnixIds } from '../../system/users.js';
import { databaseBinaries, type DatabaseBinaries } from '../../system/database-binaries.js';
import { isDatabase } from '../databases/connection.js';
import type { DatabaseInstances } from '../databases/database-instances.js';
import { copyInto, ownDir } from '../databases/files.js';
import { dumpCounts, scratchRestore, tableCount } from '../databases/postgres-dumps.js';
import { dumpDatabase, seedFile } from '../databases/postgres.js';
import { placeRdb, rdbKeys, redisKeys, snapshotRedis } from '../databases/redis.js';
import { DATABASES_DIR } from '../databases/layout.js';
import type { DataStore, DumpInfo, DumpKind, RestoreTarget } from './stores.js';

/**
 * The managed databases of an environment as stores of a backup (see stores.ts), dumped by
 * their own tools while they run, as the environment's user (never reading its files as root):
 * PostgreSQL with pg_dump --format=custom from its own version's directory (so the dump tool's
 * major version is the server's), Redis with an RDB snapshot (`redis-cli --rdb`, its password
 * in the environment). Their files in `$DATA_DIR/.berth` are never backed up as files.
 *
 * Verified by restoring: a PostgreSQL dump into a scratch database of the running cluster,
 * dropped after, its tables and rows counted and compared with the dump's own; an RDB read
 * whole by redis-check-rdb, its keys compared. A dump with nothing in it of a database that
 * held data fails. Restored into a fresh environment: the dump becomes the new cluster's seed
 * (restored at its first start, pre-data, data, post-data), the RDB the base of Redis's
 * append-only files, loaded at its start.
 */

/** A running database of the environment, as its tools reach it. */
export interface DatabaseAccess {
  readonly bin: DatabaseBinaries;
  readonly port: number;
  readonly password: string;
  /** The environment's user, whom the tools run as (undefined: berthd's own). */
  readonly ids: UnixIds | undefined;
}

/** What verifying or restoring a database's dump needs of the environment. */
export interface DumpContext {
  /** The environment's running database `service`, or an error saying it does not run. */
  readonly database: (service: string, db: DatabaseSpec) => Promise<DatabaseAccess>;
  /** The user the environment's databases run as (their files in a restored data dir are theirs). */
  readonly owner: () => Promise<UnixIds | undefined>;
}

const fail = (what: string) => new BerthError('failed', 'backup_unverified', what);

function spec(info: DumpInfo): DatabaseSpec {
  return { engine: info.kind === 'postgres' ? 'postgres' : 'redis', version: String(info.meta.version) };
}

function need(ctx: DumpContext | undefined, info: DumpInfo): DumpContext {
  if (!ctx) throw fail(`${info.store}: a database's dump is verified and restored through its environment`);
  return ctx;
}

/** One managed PostgreSQL of the environment. */
export class PostgresStore implements DataStore {
  readonly kind = 'postgres';
  readonly name: string;
  constructor(
    readonly service: string,
    readonly db: DatabaseSpec,
    readonly access: DatabaseAccess,
  ) {
    this.name = `postgres-${service}`;
  }

  async dump(out: string): Promise<DumpInfo> {
    const tables = await tableCount(this.access.bin, this.access);
    const file = path.join(out, 'db.dump');
    await dumpDatabase(this.access.bin, this.access, file, undefined);
    const held = await dumpCounts(this.access.bin, file, this.access.ids);
    return {
      store: this.name,
      kind: 'postgres',
      holds: `${this.service} (PostgreSQL ${this.db.version}): ${held.tables} tables, ${held.rows} rows`,
      bytes: statSync(file).size,
      sourceHeldData: tables > 0,
      meta: { service: this.service, version: this.db.version, tables: held.tables, rows: held.rows },
    };
  }
}

/** One managed Redis of the environment. */
export class RedisStore implements DataStore {
  readonly kind = 'redis';
  readonly name: string;
  constructor(
    readonly service: string,
    readonly db: DatabaseSpec,
    readonly access: DatabaseAccess,
  ) {
    this.name = `redis-${service}`;
  }

  async dump(out: string): Promise<DumpInfo> {
    const source = await redisKeys(this.access.bin, this.access);
    const file = path.join(out, 'dump.rdb');
    await snapshotRedis(this.access.bin, this.access, file, undefined);
    const keys = await rdbKeys(file);
    return {
      store: this.name,
      kind: 'redis',
      holds: `${this.service} (Redis ${this.db.version}): ${keys} keys`,
      bytes: statSync(file).size,
      sourceHeldData: source > 0,
      meta: { service: this.service, version: this.db.version, keys },
    };
  }
}

/** The database's directory in a data dir being rebuilt, made for its user: `.berth/<service>`. */
function targetDir(target: RestoreTarget, info: DumpInfo, owner: UnixIds | undefined): string {
  const service = String(info.meta.service);
  if (!/^[a-z0-9][a-z0-9-]*$/.test(service)) throw fail(`the snapshot names a bad service: ${JSON.stringify(service)}`);
  const top = path.join(target.dataDir, DATABASES_DIR);
  ownDir(top, undefined); // root's, as berthd keeps it (the database's start gives it on when app users are on)
  const dir = path.join(top, service);
  ownDir(dir, owner);
  return dir;
}

export const postgresKind: DumpKind = {
  async verify(dir, info, ctx) {
    const c = await need(ctx, info).database(String(info.meta.service), spec(info));
    const n = await scratchRestore(c.bin, c, path.join(dir, 'db.dump'));
    const what = `${String(info.meta.service)} (PostgreSQL)`;
    if (info.sourceHeldData && n.tables === 0) throw fail(`${what}: the dump is empty, the database was not`);
    if (n.tables !== info.meta.tables || n.rows !== info.meta.rows)
      throw fail(
        `${what}: restored into a scratch database it holds ${n.tables} tables, ${n.rows} rows; the dump had ${String(info.meta.tables)}, ${String(info.meta.rows)}`,
      );
    return `${what}: restored into a scratch database (dropped after): ${n.tables} tables, ${n.rows} rows`;
  },
  async restore(dir, info, target, ctx) {
    const owner = await need(ctx, info).owner();
    copyInto(path.join(dir, 'db.dump'), seedFile(targetDir(target, info, owner)), owner);
  },
};

export const redisKind: DumpKind = {
  async verify(dir, info) {
    const keys = await rdbKeys(path.join(dir, 'dump.rdb'));
    const what = `${String(info.meta.service)} (Redis)`;
    if (info.sourceHeldData && keys === 0) throw fail(`${what}: the snapshot is empty, Redis was not`);
    if (keys !== info.meta.keys)
      throw fail(`${what}: the snapshot holds ${keys} keys; the dump had ${String(info.meta.keys)}`);
    return `${what}: redis-check-rdb ok, ${keys} keys`;
  },
  async restore(dir, info, target, ctx) {
    const owner = await need(ctx, info).owner();
    placeRdb(path.join(dir, 'dump.rdb'), targetDir(target, info, owner), owner);
  },
};

/** The environment's databases as `dbs` (InstanceManager.databases) runs them: what a DumpContext needs. */
export function environmentDatabases(dbs: DatabaseInstances | undefined, app: string, env: string): DumpContext {
  const owner = async () => dbs?.runAs(app, env);
  return {
    owner,
    database: async (service, db) => {
      const c = (await dbs?.connections(app, env))?.find((x) => x.service === service && x.engine === db.engine);
      if (!c || !dbs)
        throw new BerthError(
          'unavailable',
          'database_not_running',
          `${service} (${db.engine === 'postgres' ? 'PostgreSQL' : 'Redis'}) of ${app}/${env} is not running: a database is backed up, and its dump verified, while it runs`,
          { hint: `start it (berth start ${app} ${service} --env ${env}), then run the backup again` },
        );
      return { bin: databaseBinaries(db, service), port: c.port, password: c.password, ids: await owner() };
    },
  };
}

/** The stores of the manifest's databases, each reached while it runs (or an error saying which does not). */
export async function databaseStores(manifest: Manifest | undefined, ctx: DumpContext): Promise<DataStore[]> {
  const out: DataStore[] = [];
  for (const spec of manifest?.services.filter(isDatabase) ?? []) {
    const db = spec.database as DatabaseSpec;
    const access = await ctx.database(spec.name, db);
    out.push(
      db.engine === 'postgres' ? new PostgresStore(spec.name, db, access) : new RedisStore(spec.name, db, access),
    );
  }
  return out;
}
