import {
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  symlinkSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../../core/errors.js';
import { runCommand } from '../../system/command.js';
import { backupSqlite, SQLITE_MAGIC } from '../../store/sqlite-backup.js';

function isSqlite(file: string): boolean {
  const fd = openSync(file, 'r');
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
 * files and symlinks as they are. Returns what was copied, relative to `from`.
 */
export async function copyDataDir(from: string, to: string): Promise<{ files: string[]; databases: string[] }> {
  mkdirSync(to, { recursive: true, mode: 0o700 });
  const out = { files: [] as string[], databases: [] as string[] };
  if (!existsSync(from)) return out;
  const walk = async (rel: string): Promise<void> => {
    const names = readdirSync(path.join(from, rel)).sort();
    // A database's -wal/-shm/-journal come and go while it is written: they are part of its backup, never copied beside it.
    const companion = (name: string) =>
      /-(wal|shm|journal)$/.test(name) && names.includes(name.replace(/-(wal|shm|journal)$/, ''));
    for (const name of names) {
      if (companion(name)) continue;
      const r = path.join(rel, name);
      const src = path.join(from, r);
      const dest = path.join(to, r);
      let st;
      try {
        st = lstatSync(src);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed since the listing
        throw err;
      }
      if (st.isDirectory()) {
        mkdirSync(dest, { recursive: true, mode: st.mode & 0o777 });
        await walk(r);
      } else if (st.isSymbolicLink()) {
        symlinkSync(readlinkSync(src), dest);
      } else if (st.isFile() && isSqlite(src)) {
        await backupSqlite(src, dest);
        out.databases.push(r);
      } else if (st.isFile()) {
        copyFileSync(src, dest);
        out.files.push(r);
      }
    }
  };
  await walk('');
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
