import { closeSync, constants, copyFileSync, mkdirSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { backupSqlite, SQLITE_MAGIC, sqliteCounts, sqliteIntegrity } from '../../store/sqlite-backup.js';
import { DirHandle } from '../../system/safe-tree.js';
import { DATABASES_DIR } from '../databases/layout.js';
import { postgresKind, redisKind, type DumpContext } from './database-stores.js';
import { copyTree, treeStats } from './tree-copy.js';

/*
 * What an environment keeps, as stores a backup dumps one by one. Each store writes a
 * consistent dump of itself into a directory of its own in the staging area while the app
 * runs (SQLite: its online backup API; PostgreSQL: pg_dump --format=custom; Redis: an RDB
 * snapshot), proves that dump restorable (`verify` throws what is wrong, also an empty dump
 * of a store that is not empty), and restores it into an environment being rebuilt. A
 * snapshot's `berth-backup.json` lists each store's DumpInfo, so a restore needs only the
 * snapshot: `restoreDump` dispatches on the dump's kind.
 */

export type StoreKind = 'files' | 'sqlite' | 'postgres' | 'redis';

/** What a store's dump holds, recorded in the snapshot and shown by `berth backup run`. */
export interface DumpInfo {
  /** Unique in the snapshot: the directory of its dump ("files", "sqlite-1", "postgres-db"). */
  readonly store: string;
  readonly kind: StoreKind;
  /** In plain words: "app.db: 2 tables, 5 rows", "3 files, 12 KB". */
  readonly holds: string;
  /** Bytes of the dump. */
  readonly bytes: number;
  /** Whether the store held anything when it was dumped: a dump of such a store is never empty. */
  readonly sourceHeldData: boolean;
  /** What the kind needs to verify and restore (a SQLite file's path under $DATA_DIR). */
  readonly meta: Readonly<Record<string, string | number>>;
}

export interface DataStore {
  readonly name: string;
  readonly kind: StoreKind;
  /** Writes a consistent dump into `dir` (empty, berthd's own), while the app runs. */
  dump(dir: string): Promise<DumpInfo>;
}

/** Where a restore puts a dump: the environment being rebuilt (a fresh data dir, berthd's own until it is handed over). */
export interface RestoreTarget {
  readonly dataDir: string;
}

/** What each kind of dump needs after the snapshot was taken: proof that it restores, and the restore itself. */
export interface DumpKind {
  /** Proves the dump in `dir` restorable; throws, saying what is wrong. Returns what was checked, in plain words. */
  verify(dir: string, info: DumpInfo, ctx?: DumpContext): Promise<string>;
  /** `ctx`: the environment's databases, for a database's dump (see database-stores). */
  restore(dir: string, info: DumpInfo, target: RestoreTarget, ctx?: DumpContext): Promise<void>;
}

const fail = (what: string) => new BerthError('failed', 'backup_unverified', what);

/** A relative path recorded in a snapshot, checked before it is joined to a directory (a repository could be tampered with). */
function safeRel(rel: unknown): string {
  const parts = typeof rel === 'string' ? rel.split('/') : [];
  if (parts.length === 0 || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\0')))
    throw fail(`the snapshot names a bad path: ${JSON.stringify(rel)}`);
  return parts.join('/');
}

function isSqliteFd(fd: number): boolean {
  const head = Buffer.alloc(SQLITE_MAGIC.length);
  return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(SQLITE_MAGIC);
}

/** One SQLite database in $DATA_DIR, copied through SQLite's backup API. */
export class SqliteStore implements DataStore {
  readonly kind = 'sqlite';
  constructor(
    readonly name: string,
    /** The database's directory, held open (never a path an app could swap), and its name in it. */
    readonly dir: DirHandle,
    readonly file: string,
    /** Its path relative to $DATA_DIR. */
    readonly rel: string,
  ) {}

  async dump(out: string): Promise<DumpInfo> {
    // The file itself, not a link: opened without following one, then handed to SQLite through that descriptor.
    const fd = openSync(this.dir.at(this.file), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    let source: { tables: number; rows: number };
    try {
      if (!isSqliteFd(fd)) throw fail(`${this.rel} is no longer a SQLite database`);
      source = sqliteCounts(`/proc/self/fd/${fd}`);
      await backupSqlite(`/proc/self/fd/${fd}`, path.join(out, 'db.sqlite'));
    } finally {
      closeSync(fd);
    }
    const held = sqliteCounts(path.join(out, 'db.sqlite'));
    return {
      store: this.name,
      kind: 'sqlite',
      holds: `${this.rel}: ${held.tables} tables, ${held.rows} rows`,
      bytes: treeStats(out).bytes,
      sourceHeldData: source.tables > 0,
      meta: { path: this.rel, tables: held.tables, rows: held.rows },
    };
  }
}

/** The other files of $DATA_DIR as they are (links as links, never followed; SQLite databases and their -wal/-shm left to their stores). */
export class FilesStore implements DataStore {
  readonly kind = 'files';
  readonly name = 'files';
  constructor(
    readonly dataDir: string,
    /** Paths relative to $DATA_DIR that other stores dump. */
    readonly skip: ReadonlySet<string>,
  ) {}

  async dump(out: string): Promise<DumpInfo> {
    const top = DirHandle.open(this.dataDir);
    const copied = top ? copyTree(top, out, this.skip) : { files: 0, bytes: 0, links: 0 };
    top?.close();
    return {
      store: this.name,
      kind: 'files',
      holds: `${copied.files} files, ${copied.links} links, ${copied.bytes} bytes`,
      bytes: copied.bytes,
      sourceHeldData: copied.files + copied.links > 0,
      meta: { files: copied.files, links: copied.links, bytes: copied.bytes },
    };
  }
}

/** The stores of an environment's $DATA_DIR: each SQLite database, then everything else but its managed databases' directory. `close` lets go of the directories. */
export function dataDirStores(dataDir: string): { stores: DataStore[]; close: () => void } {
  const held: DirHandle[] = [];
  const dbs: SqliteStore[] = [];
  const walk = (dir: DirHandle, rel: string) => {
    for (const name of dir.names().sort()) {
      if (rel === '' && name === DATABASES_DIR) continue; // managed databases: dumped by their own tools (database-stores)
      const st = dir.lstat(name);
      const r = rel ? `${rel}/${name}` : name;
      if (st?.isDirectory()) {
        const sub = dir.child(name);
        if (sub) {
          held.push(sub);
          walk(sub, r);
        }
      } else if (st?.isFile() && st.size >= SQLITE_MAGIC.length) {
        let fd: number | undefined;
        try {
          fd = openSync(dir.at(name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
          if (isSqliteFd(fd)) dbs.push(new SqliteStore(`sqlite-${dbs.length + 1}`, dir, name, r));
        } catch {
          // gone or swapped since the listing: not a database of this backup
        } finally {
          if (fd !== undefined) closeSync(fd);
        }
      }
    }
  };
  const top = DirHandle.open(dataDir);
  if (top) {
    held.push(top);
    walk(top, '');
  }
  const skip = new Set([DATABASES_DIR, ...dbs.flatMap((d) => ['', '-wal', '-shm', '-journal'].map((s) => d.rel + s))]);
  return { stores: [...dbs, new FilesStore(dataDir, skip)], close: () => held.forEach((d) => d.close()) };
}

const sqliteKind: DumpKind = {
  async verify(dir, info) {
    const file = path.join(dir, 'db.sqlite');
    let n: { tables: number; rows: number };
    try {
      const checked = sqliteIntegrity(file);
      if (checked.problems.length > 0) throw new Error(checked.problems.slice(0, 3).join('; '));
      n = checked.counts;
    } catch (err) {
      throw fail(`${String(info.meta.path)}: integrity_check failed: ${(err as Error).message}`);
    }
    if (info.sourceHeldData && n.tables === 0)
      throw fail(`${String(info.meta.path)}: the copy is empty, the database was not`);
    if (n.tables !== info.meta.tables || n.rows !== info.meta.rows)
      throw fail(
        `${String(info.meta.path)}: the copy holds ${n.tables} tables, ${n.rows} rows; the dump had ${String(info.meta.tables)}, ${String(info.meta.rows)}`,
      );
    return `${String(info.meta.path)}: integrity_check ok, ${n.tables} tables, ${n.rows} rows`;
  },
  async restore(dir, info, target) {
    const dest = path.join(target.dataDir, safeRel(info.meta.path));
    mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
    copyFileSync(path.join(dir, 'db.sqlite'), dest, constants.COPYFILE_EXCL);
  },
};

const filesKind: DumpKind = {
  async verify(dir, info) {
    const s = treeStats(dir);
    if (info.sourceHeldData && s.files + s.links === 0) throw fail('files: the dump is empty, the data dir was not');
    if (s.files !== info.meta.files || s.bytes !== info.meta.bytes)
      throw fail(
        `files: the copy holds ${s.files} files (${s.bytes} bytes); the dump had ${String(info.meta.files)} (${String(info.meta.bytes)} bytes)`,
      );
    return `files: ${s.files} files, ${s.bytes} bytes as dumped`;
  },
  async restore(dir, _info, target) {
    const top = DirHandle.open(dir);
    if (!top) throw fail('files: the dump is missing from the snapshot');
    try {
      copyTree(top, target.dataDir, new Set());
    } finally {
      top.close();
    }
  },
};

/** Each kind of dump. */
export const DUMP_KINDS: Partial<Record<StoreKind, DumpKind>> = {
  sqlite: sqliteKind,
  files: filesKind,
  postgres: postgresKind,
  redis: redisKind,
};

export function dumpKind(info: DumpInfo): DumpKind {
  const k = DUMP_KINDS[info.kind];
  if (!k) throw fail(`the snapshot holds a ${info.kind} dump, which this berthd cannot verify or restore`);
  return k;
}

/** The store's directory in a staging area or a restored snapshot. */
export function storeDir(root: string, info: Pick<DumpInfo, 'store'>): string {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(info.store))
    throw fail(`the snapshot names a bad store: ${JSON.stringify(info.store)}`);
  return path.join(root, info.store);
}
