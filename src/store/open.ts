import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

/** Options for the embedded SQLite store. */
export interface SqliteOptions {
  readonly file: string;
  /** How long a writer waits for another process's lock. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

/**
 * Opens the SQLite store (WAL, busy timeout, foreign keys) and runs pending migrations.
 * This file and its siblings are the only places that know a driver exists.
 */
export async function openSqlite(opts: SqliteOptions): Promise<Kysely<Database>> {
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
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(native) }) });
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? '?';
    throw new Error(
      `migrating the store ${opts.file} (at ${failed}): ${error instanceof Error ? error.message : JSON.stringify(error)}`,
    );
  }
  return db;
}

/**
 * Kysely prepares every query anew; compiling SQL is most of a small query's cost, and berthd
 * runs the same few hundred queries all day. Statements are kept by their text (bounded:
 * queries whose text varies, such as IN lists, cannot grow it without end). Kysely's driver
 * runs a statement to completion (all/run) before the next query starts, so sharing one is safe.
 */
function cachingStatements(native: SQLite.Database): { close(): void; prepare(sql: string): SQLite.Statement } {
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
      return stmt;
    },
  };
}

/** True for a unique or primary key violation, whatever the driver. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

/** True when the database was locked by another process past the busy timeout. */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT';
}
