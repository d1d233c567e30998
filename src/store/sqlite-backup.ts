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
