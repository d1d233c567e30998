import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type DatabaseConnection, type Driver } from 'kysely';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

/** Options for the embedded SQLite store. */
export interface SqliteOptions {
  readonly file: string;
  /** How long a writer waits for another process's lock. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

/** What the store has run since it opened (`berth daemon status`): statements, and commits (a write outside a transaction is one). */
export interface StoreCounters {
  statements: number;
  commits: number;
}

/**
 * Opens the SQLite store (WAL, busy timeout, foreign keys) and runs pending migrations.
 * This file and open-postgres.ts are the only places that know a driver exists.
 */
export async function openSqlite(
  opts: SqliteOptions,
  counters: StoreCounters = { statements: 0, commits: 0 },
): Promise<Kysely<Database>> {
  mkdirSync(path.dirname(opts.file), { recursive: true });
  const native = new SQLite(opts.file, { timeout: opts.busyTimeoutMs ?? 5000 });
  // The store is root's alone (sessions, audit, sealed secrets): its WAL and index files take the same mode.
  for (const f of [opts.file, `${opts.file}-wal`, `${opts.file}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch {
      // not there yet: SQLite creates them with the main file's mode
    }
  }
  native.pragma('journal_mode = WAL');
  native.pragma('synchronous = NORMAL');
  native.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({
    dialect: new FairSqliteDialect({ database: cachingStatements(native, counters) }),
  });
  await migrateStore(db, opts.file);
  return db;
}

/** Runs the pending migrations (the same on SQLite and PostgreSQL); closes `db` and throws naming `where` when one fails. */
export async function migrateStore(db: Kysely<Database>, where: string): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? '?';
    throw new Error(
      `migrating the store ${where} (at ${failed}): ${error instanceof Error ? error.message : JSON.stringify(error)}`,
    );
  }
}

/**
 * Kysely prepares every query anew; compiling SQL is most of a small query's cost, and berthd
 * runs the same few hundred queries all day. Statements are kept by their text (bounded:
 * queries whose text varies, such as IN lists, cannot grow it without end). Kysely's driver
 * runs a statement to completion (all/run) before the next query starts, so sharing one is safe.
 */
function cachingStatements(
  native: SQLite.Database,
  counters: StoreCounters,
): { close(): void; prepare(sql: string): SQLite.Statement } {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => void native.close(),
    prepare(text: string) {
      let stmt = cache.get(text);
      if (!stmt) {
        if (cache.size >= 1000) cache.clear();
        stmt = native.prepare(text);
        cache.set(text, stmt);
      }
      // Kysely prepares each query as it runs it: this counts what runs.
      counters.statements++;
      if (text === 'commit' || (!stmt.reader && !native.inTransaction && !text.startsWith('begin'))) counters.commits++;
      return stmt;
    },
  };
}

/**
 * Kysely's SQLite driver hands its one connection over through a mutex that wakes every waiter
 * at each release (they all retry, one wins): with 1,000 instances stopping at once, each query
 * cost ~1,000 wake-ups, most of a `berth rm`'s CPU (issue 14). Here waiters queue and the
 * connection goes to the first of them alone.
 */
class FairSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const inner = super.createDriver();
    const queue: Array<() => void> = [];
    let held = false;
    return {
      init: () => inner.init(),
      acquireConnection: async (): Promise<DatabaseConnection> => {
        if (held) await new Promise<void>((r) => queue.push(r));
        held = true; // handed over by releaseConnection, or free
        return inner.acquireConnection(); // uncontended: only the holder gets here
      },
      releaseConnection: async (c) => {
        await inner.releaseConnection(c);
        const next = queue.shift();
        held = next !== undefined; // handed to the next in line, or free
        next?.();
      },
      beginTransaction: (c, settings) => inner.beginTransaction(c, settings),
      commitTransaction: (c) => inner.commitTransaction(c),
      rollbackTransaction: (c) => inner.rollbackTransaction(c),
      savepoint: (c, name, compile) => (inner.savepoint as Required<Driver>['savepoint']).call(inner, c, name, compile),
      rollbackToSavepoint: (c, name, compile) =>
        (inner.rollbackToSavepoint as Required<Driver>['rollbackToSavepoint']).call(inner, c, name, compile),
      releaseSavepoint: (c, name, compile) =>
        (inner.releaseSavepoint as Required<Driver>['releaseSavepoint']).call(inner, c, name, compile),
      destroy: () => inner.destroy(),
    };
  }
}

/** True for a unique or primary key violation, whatever the driver. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

/** True when the database was locked by another process past the busy timeout (PostgreSQL: a deadlock or serialization failure). */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === '40001' || code === '40P01';
}
