import { closeSync, constants, copyFileSync, mkdirSync, openSync, readlinkSync, readSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../../core/errors.js';
import { runCommand } from '../../system/command.js';
import { backupSqlite, SQLITE_MAGIC } from '../../store/sqlite-backup.js';
import { DirHandle } from '../../system/safe-tree.js';
import { DATABASES_DIR } from '../databases/layout.js';

function isSqlite(file: string): boolean {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const head = Buffer.alloc(SQLITE_MAGIC.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(SQLITE_MAGIC);
  } finally {
    closeSync(fd);
  }
}

/**
 * A new environment's data dir as a copy of another's: SQLite databases through the backup
 * API (their -wal, -shm and -journal files are part of that, not copied beside it), other
 * files and symlinks as they are (never followed: directories are walked by descriptor, see
 * safe-tree). Returns what was copied, relative to `from`.
 */
export async function copyDataDir(from: string, to: string): Promise<{ files: string[]; databases: string[] }> {
  mkdirSync(to, { recursive: true, mode: 0o700 });
  const out = { files: [] as string[], databases: [] as string[] };
  const top = DirHandle.open(from);
  if (!top) return out;
  const walk = async (dir: DirHandle, rel: string): Promise<void> => {
    const names = dir.names().sort();
    // A database's -wal/-shm/-journal come and go while it is written: they are part of its backup, never copied beside it.
    const companion = (name: string) =>
      /-(wal|shm|journal)$/.test(name) && names.includes(name.replace(/-(wal|shm|journal)$/, ''));
    for (const name of names) {
      if (companion(name)) continue;
      if (rel === '' && name === DATABASES_DIR) continue; // managed databases: copied by their own tools (databases/database-copy)
      const r = path.join(rel, name);
      const dest = path.join(to, r);
      const st = dir.lstat(name);
      if (!st) continue; // removed since the listing
      if (st.isDirectory()) {
        const sub = dir.child(name);
        if (!sub) continue; // swapped for something else since: not entered
        try {
          mkdirSync(dest, { recursive: true, mode: st.mode & 0o777 });
          await walk(sub, r);
        } finally {
          sub.close();
        }
      } else if (st.isSymbolicLink()) {
        symlinkSync(readlinkSync(dir.at(name)), dest);
      } else if (st.isFile() && isSqlite(dir.at(name))) {
        // SQLite opens its -wal and -shm beside the file by name: the plain path. This runs as the app's user when it has one.
        await backupSqlite(path.join(from, r), dest);
        out.databases.push(r);
      } else if (st.isFile()) {
        copyFileSync(dir.at(name), dest);
        out.files.push(r);
      }
    }
  };
  try {
    await walk(top, '');
  } finally {
    top.close();
  }
  return out;
}

/** copyDataDir as another user (the app's): a child process with its uid and gid; `to` must exist and be theirs. */
export async function copyDataDirAs(
  ids: { uid: number; gid: number },
  from: string,
  to: string,
): Promise<{ files: string[]; databases: string[] }> {
  const main = fileURLToPath(new URL('./data-copy-main.js', import.meta.url));
  const r = await runCommand([process.execPath, main, from, to], {
    uid: ids.uid,
    gid: ids.gid,
    env: { PATH: process.env.PATH ?? '' },
    timeoutMs: 30 * 60_000,
  });
  if (r.code !== 0)
    throw new BerthError(
      'failed',
      'data_copy_failed',
      `copying ${from} to ${to} failed: ${r.stderr.trim() || `exit ${r.code}`}`,
    );
  return JSON.parse(r.stdout) as { files: string[]; databases: string[] };
}
