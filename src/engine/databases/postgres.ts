import { closeSync, constants, existsSync, openSync, readFileSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { removeTree } from '../../system/safe-tree.js';
import type { UnixIds } from '../../system/users.js';
import type { DatabaseBinaries } from '../../system/database-binaries.js';
import { newFile, runTool } from './files.js';
import { POSTGRES_DATABASE, POSTGRES_USER } from './layout.js';

/** The cluster's directory inside the database's own. */
export function clusterDir(dir: string): string {
  return path.join(dir, 'pgdata');
}

/** A dump made for this database to start from (a preview's copy), restored once at its first start. */
export function seedFile(dir: string): string {
  return path.join(dir, 'seed.dump');
}

const TOOL_PATH = '/usr/bin:/bin';

/**
 * Makes the cluster once: initdb as `ids` (PostgreSQL refuses to run as root) into a temporary
 * directory renamed into place when complete, so a cut-off initdb is started again, never used.
 * Password authentication (scram-sha-256) for every connection, local ones included; the
 * superuser is `postgres` with `password`, handed over in a file of its own removed after.
 * Returns false when the cluster was already there.
 */
export async function initCluster(
  initdb: Initdb,
  dir: string,
  ids: UnixIds | undefined,
  password: string,
): Promise<boolean> {
  const data = clusterDir(dir);
  if (existsSync(path.join(data, 'PG_VERSION'))) return false;
  const tmp = `${data}.init`;
  const pwfile = path.join(dir, '.pwfile');
  removeTree(tmp);
  rmSync(pwfile, { force: true });
  newFile(pwfile, ids, `${password}\n`);
  try {
    const r = await initdb.run([
      initdb.program,
      '-D',
      tmp,
      '-U',
      POSTGRES_USER,
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ]);
    if (r.code !== 0)
      throw new BerthError('failed', 'initdb_failed', `initdb of ${data} failed: ${r.stderr || `exit ${r.code}`}`, {
        hint: 'see the message above; the next start tries again',
      });
  } finally {
    rmSync(pwfile, { force: true });
  }
  removeTree(data);
  renameSync(tmp, data);
  return true;
}

/**
 * Checks that the cluster's data (its PG_VERSION, read without following a link) is in the major
 * version `version` that berth.yaml names: an image whose tag says 15 may hold another server, and
 * a server never starts on another major's data. Nothing before initdb.
 */
export function assertClusterVersion(dir: string, version: string, service: string, from: string): void {
  let fd: number;
  try {
    fd = openSync(path.join(clusterDir(dir), 'PG_VERSION'), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  let found: string;
  try {
    found = readFileSync(fd, 'utf8').trim();
  } finally {
    closeSync(fd);
  }
  if (found !== version)
    throw new BerthError(
      'invalid',
      'database_version',
      `service "${service}": its data (${clusterDir(dir)}) is PostgreSQL ${found}'s, and ${from} is PostgreSQL ${version}`,
      {
        hint: `run PostgreSQL ${found} (postgres: ${found}, and an image of that version), or dump and restore into a new service`,
      },
    );
}

/** How initdb runs: `program` by `run` (the host's as the environment's user, or an image's in a container). */
export interface Initdb {
  readonly program: string;
  run(argv: readonly string[]): Promise<{ code: number | null; stderr: string }>;
}

/** The host's initdb of `bin`, run as `ids`. */
export function hostInitdb(bin: DatabaseBinaries, ids: UnixIds | undefined): Initdb {
  return {
    program: bin.initdb as string,
    run: (argv) => runTool(argv, { ids, env: { PATH: TOOL_PATH, LANG: 'C.UTF-8' }, timeoutMs: 5 * 60_000 }),
  };
}

/**
 * The server's argv: in the foreground (Berth supervises it), on `listen` (127.0.0.1; all of a
 * container's own addresses, where its published port arrives), port `port` and a socket in `sockets`.
 */
export function postgresArgv(
  server: string,
  dir: string,
  port: number,
  sockets: string,
  listen = '127.0.0.1',
): string[] {
  return [
    server,
    '-D',
    clusterDir(dir),
    '-c',
    `port=${port}`,
    '-c',
    `listen_addresses=${listen}`,
    '-c',
    `unix_socket_directories=${sockets}`,
    '-c',
    'unix_socket_permissions=0700',
  ];
}

/**
 * Restores the seed dump (a preview's copy of another environment's database, or a backup being
 * restored) into the running, fresh cluster, then removes it: pre-data (the schema), data, then
 * post-data (indexes, constraints, triggers: built once, after the rows are in), each section in
 * one transaction, stopping at the first error. `restored` is told each section once it is in.
 */
export async function restoreSeed(
  bin: DatabaseBinaries,
  dir: string,
  c: { port: number; sockets: string; password: string; ids: UnixIds | undefined },
  restored: (section: string) => void = () => undefined,
): Promise<boolean> {
  const seed = seedFile(dir);
  if (!existsSync(seed)) return false;
  for (const section of ['pre-data', 'data', 'post-data']) {
    const r = await runTool(
      [
        bin.restore as string,
        '--no-owner',
        '--exit-on-error',
        '--single-transaction',
        `--section=${section}`,
        ...pgConnection(c.sockets, c.port),
        seed,
      ],
      { ids: c.ids, env: { PATH: TOOL_PATH, PGPASSWORD: c.password } },
    );
    if (r.code !== 0)
      throw new BerthError(
        'failed',
        'restore_failed',
        `restoring the database's dump (${section}) failed: ${r.stderr || `exit ${r.code}`}`,
        { hint: 'the dump comes from a backup or another environment; see the message above' },
      );
    restored(section);
  }
  unlinkSync(seed);
  return true;
}

/** pg_dump --format=custom of a running cluster into the new file `out` (owned by `owner`), as `ids`, over TCP with its password. */
export async function dumpDatabase(
  bin: DatabaseBinaries,
  c: { port: number; password: string; ids: UnixIds | undefined },
  out: string,
  owner: UnixIds | undefined,
): Promise<void> {
  const r = await runTool([bin.dump as string, '--format=custom', ...pgConnection('127.0.0.1', c.port)], {
    ids: c.ids,
    env: { PATH: TOOL_PATH, PGPASSWORD: c.password },
    out,
    outOwner: owner,
  });
  if (r.code !== 0)
    throw new BerthError(
      'failed',
      'dump_failed',
      `pg_dump of the database on port ${c.port} failed: ${r.stderr || `exit ${r.code}`}`,
    );
}

/** The client tools' arguments for a database of the cluster (its own by default): host (or socket directory), port, user, database. */
export function pgConnection(host: string, port: number, database = POSTGRES_DATABASE): string[] {
  return ['-h', host, '-p', String(port), '-U', POSTGRES_USER, '-d', database];
}
