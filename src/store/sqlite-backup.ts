import SQLite from 'better-sqlite3';

/** The first 16 bytes of every SQLite database file. */
export const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Copies a SQLite database through SQLite's online backup API: a consistent snapshot even
 * while another process writes to it (the backup starts over when the source changes under
 * it), WAL contents included. Never a byte copy that could catch a write halfway.
 */
export async function backupSqlite(source: string, dest: string): Promise<void> {
  let db: SQLite.Database;
  try {
    db = new SQLite(source, { readonly: true, fileMustExist: true, timeout: 5000 });
  } catch {
    db = new SQLite(source, { fileMustExist: true, timeout: 5000 }); // a WAL database without its -shm file opens read-write only
  }
  try {
    await db.backup(dest);
  } finally {
    db.close();
  }
}

/** How much a SQLite database holds: its tables (SQLite's own left out) and their rows, all together. */
export interface SqliteCounts {
  readonly tables: number;
  readonly rows: number;
}

/** The counts of the database at `file` (a path, or /proc/self/fd/N of a descriptor opened without following links). */
export function sqliteCounts(file: string): SqliteCounts {
  const db = new SQLite(file, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    return countsOf(db);
  } finally {
    db.close();
  }
}

/** PRAGMA integrity_check of the database at `file` (its first problems; none when sound), then its counts. */
export function sqliteIntegrity(file: string): { problems: string[]; counts: SqliteCounts } {
  const db = new SQLite(file, { readonly: true, fileMustExist: true });
  try {
    const result = db.pragma('integrity_check', { simple: false }) as { integrity_check: string }[];
    const problems = result.map((r) => r.integrity_check).filter((r) => r !== 'ok');
    return { problems, counts: problems.length > 0 ? { tables: 0, rows: 0 } : countsOf(db) };
  } finally {
    db.close();
  }
}

function countsOf(db: SQLite.Database): SqliteCounts {
  const tables = db
    .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")
    .pluck()
    .all() as string[];
  let rows = 0;
  for (const t of tables)
    rows += db
      .prepare(`select count(*) from "${t.replaceAll('"', '""')}"`)
      .pluck()
      .get() as number;
  return { tables: tables.length, rows };
}
