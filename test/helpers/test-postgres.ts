import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { clusterDir, hostInitdb, initCluster, postgresArgv } from '../../src/engine/databases/postgres.js';
import { ownDir } from '../../src/engine/databases/files.js';
import { removeTree } from '../../src/system/safe-tree.js';
import { deleteSystemUser, ensureSystemUser, type UnixIds } from '../../src/system/users.js';
import { PG_BIN } from './database-app.js';

/** Why a test of the PostgreSQL store cannot run here (false: it can): root (a user to run it as) and postgresql-15. */
export const postgresSkip: string | false =
  process.getuid?.() !== 0
    ? 'needs root: PostgreSQL runs as a system user of its own'
    : !existsSync(`${PG_BIN}/initdb`)
      ? 'needs postgresql-15'
      : false;

/**
 * A real PostgreSQL 15 for a test file: a cluster made as Berth makes a managed database's (initdb
 * with a password, as the system user `user`, a `berth-pgs` name) in a temporary directory, its
 * server on 127.0.0.1:`port`. Each `database()` is a new empty database, named by its URL.
 */
export class TestPostgres {
  readonly #dir: string;
  readonly #user: string;
  readonly #password = randomBytes(12).toString('hex');
  readonly port: number;
  #server: ChildProcess | undefined;
  #ids: UnixIds | undefined;
  #databases = 0;

  constructor(port: number, user: string) {
    this.port = port;
    this.#user = user;
    this.#dir = mkdtempSync(path.join(tmpdir(), 'berth-pgs-'));
    chmodSync(this.#dir, 0o711); // the server's user reaches its own directory inside
  }

  /** initdb, then the server, resolved once it says it accepts connections. */
  async start(): Promise<void> {
    this.#ids = await ensureSystemUser(this.#user);
    const dir = path.join(this.#dir, 'db');
    ownDir(dir, this.#ids);
    const bin = { dir: PG_BIN, server: `${PG_BIN}/postgres`, client: `${PG_BIN}/psql`, initdb: `${PG_BIN}/initdb` };
    await initCluster(hostInitdb(bin, this.#ids), dir, this.#ids, this.#password);
    const argv = postgresArgv(bin.server, dir, this.port, dir);
    const server = spawn(argv[0] as string, argv.slice(1), {
      uid: this.#ids.uid,
      gid: this.#ids.gid,
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.#server = server;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      server.stderr.on('data', (b: Buffer) => {
        log += b.toString();
        if (log.includes('ready to accept connections')) resolve();
      });
      server.once('exit', (code) => reject(new Error(`postgres exited ${code} before it was ready: ${log}`)));
    });
    server.stderr.resume();
    if (!existsSync(path.join(clusterDir(dir), 'PG_VERSION'))) throw new Error('no cluster made');
  }

  /** A URL with the superuser's password: postgres://postgres:...@127.0.0.1:port/`name`. */
  url(name = 'postgres'): string {
    return `postgres://postgres:${this.#password}@127.0.0.1:${this.port}/${name}`;
  }

  /** A new empty database: its URL. */
  async database(prefix = 'berth'): Promise<string> {
    const name = `${prefix}_${++this.#databases}`;
    await this.sql(`create database ${name}`);
    return this.url(name);
  }

  /** Runs one statement on the database `db` (default: postgres) and returns its rows. */
  async sql(text: string, db = 'postgres'): Promise<Array<Record<string, unknown>>> {
    const client = new pg.Client({ connectionString: this.url(db) });
    await client.connect();
    try {
      return (await client.query(text)).rows as Array<Record<string, unknown>>;
    } finally {
      await client.end();
    }
  }

  /** Stops the server (fast shutdown), removes its files and its user. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGINT');
      await exited;
    }
    removeTree(this.#dir);
    await deleteSystemUser(this.#user);
  }
}
