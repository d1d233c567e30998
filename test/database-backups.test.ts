import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BackupResult, RestoreResult } from '../src/core/backup-results.js';
import type { DumpContext } from '../src/engine/backup/database-stores.js';
import { DUMP_KINDS, type DumpInfo } from '../src/engine/backup/stores.js';
import { databaseBinaries } from '../src/system/database-binaries.js';
import { listPids, procStat } from '../src/system/proc.js';
import { findUser } from '../src/system/users.js';
import { databaseApp, databaseSkip as skip, PG_BIN, psql, uidOf } from './helpers/database-app.js';
import { isAlive } from './helpers/http.js';
import { assertOk, TestHome, waitFor } from './helpers/home.js';

/**
 * Backups and restores of managed PostgreSQL 15 and Redis 7 (issue 17, criteria 2 to 4), by a
 * real berthd as root with app users on: dumped while they run, each dump verified by restoring
 * it (an empty one of a database that held data fails), restored as a journaled transaction,
 * and berthd killed at each step of that restore. Running the databases: test/databases.
 */
const home = new TestHome('26800-26899');
const { host, sql, redis, one, setup, teardown } = databaseApp(home, 'dbb');
const data = path.join(home.home, 'data', 'dbb');
/** The snapshot the first test makes: 2 tables, 52 rows; 2 keys. */
let snapshot = '';

before(async () => {
  if (skip) return;
  await setup();
  await sql(host, 'CREATE TABLE notes (text text)');
  await sql(host, "INSERT INTO notes VALUES ('from production'), ('later in production')");
  assert.equal(await redis(host, 'SET', 'k', 'production'), 'OK');
});
after(async () => {
  if (!skip) await teardown();
});

test(
  'backup: postgres dumped (pg_dump) and redis snapshotted while they run, each verified; rows and keys deleted, restore: back',
  { skip },
  async () => {
    await sql(host, 'CREATE TABLE items (n int PRIMARY KEY, label text UNIQUE)');
    await sql(host, "INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 50) i");
    assert.equal(await redis(host, 'SET', 'kept', 'yes'), 'OK');
    const db = await one('production', 'db');
    const out = await home.cli('backup', 'run', 'dbb', '--json');
    const r = JSON.parse(out.stdout) as BackupResult;
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.equal(r.status, 'verified', r.error);
    snapshot = r.snapshot as string;
    assert.ok(r.holds.includes('db (PostgreSQL 15): 2 tables, 52 rows'), r.holds.join('; '));
    assert.ok(r.holds.includes('cache (Redis 7): 2 keys'), r.holds.join('; '));
    assert.ok(
      r.holds.includes('0 files, 0 links, 0 bytes'),
      `the clusters' files are not backed up as files: ${r.holds.join('; ')}`,
    );
    assert.ok(
      r.verification.some((v) => /^db \(PostgreSQL\): restored into a scratch database .*2 tables, 52 rows$/.test(v)),
      r.verification.join('\n'),
    );
    assert.ok(r.verification.includes('cache (Redis): redis-check-rdb ok, 2 keys'), r.verification.join('\n'));
    const url = (await home.cli('db', 'url', 'dbb', 'db', '--show')).stdout.trim();
    assert.equal(psql(url, "SELECT count(*) FROM pg_database WHERE datname LIKE 'berth_verify%'"), '0', 'dropped');
    assert.equal(db.pid, (await one('production', 'db')).pid, 'taken while postgres ran');

    await sql(host, 'DELETE FROM items WHERE n > 10');
    await sql(host, 'DROP TABLE notes');
    await redis(host, 'DEL', 'kept');
    await redis(host, 'SET', 'k', 'changed');
    const restore = await home.json<RestoreResult>('backup', 'restore', 'dbb', snapshot);
    assert.equal(restore.status, 'done', restore.error);
    assert.equal(await sql(host, 'SELECT count(*), sum(n) FROM items'), '50|1275');
    assert.equal(await sql(host, 'SELECT count(*) FROM notes'), '2');
    // post-data restored: the constraints are there again.
    assert.equal(
      await sql(host, "SELECT count(*) FROM pg_indexes WHERE tablename = 'items'"),
      '2',
      'primary key and unique index',
    );
    assert.equal(await redis(host, 'GET', 'kept'), 'yes');
    assert.equal(await redis(host, 'GET', 'k'), 'production');
    const after = await one('production', 'db');
    assert.notEqual(after.pid, db.pid, 'a fresh cluster');
    assert.equal(uidOf(after.pid as number), findUser('berth-dbb')?.uid, 'still the environment user');
    const data = path.join(home.home, 'data', 'dbb');
    assert.deepEqual(
      readdirSync(data).filter((n) => n.includes('restore')),
      [],
      'nothing left aside',
    );
  },
);

test(
  'verification: an empty dump of a database that held data fails; so does an empty Redis snapshot',
  { skip },
  async () => {
    const db = await one('production', 'db');
    const url = (await home.cli('db', 'url', 'dbb', 'db', '--show')).stdout.trim();
    const password = decodeURIComponent(/^postgres:\/\/postgres:([^@]+)@/.exec(url)?.[1] ?? '');
    psql(url, 'CREATE DATABASE empty_one');
    const dir = mkdtempSync(path.join(home.root, 'dump-'));
    execFileSync(`${PG_BIN}/pg_dump`, [
      '--format=custom',
      '-f',
      path.join(dir, 'db.dump'),
      url.replace(/\/postgres$/, '/empty_one'),
    ]);
    const ctx: DumpContext = {
      owner: async () => undefined,
      database: async (service, spec) => ({
        bin: databaseBinaries(spec, service),
        port: db.port as number,
        password,
        ids: undefined,
      }),
    };
    const info: DumpInfo = {
      store: 'postgres-db',
      kind: 'postgres',
      holds: '',
      bytes: 0,
      sourceHeldData: true,
      meta: { service: 'db', version: '15', tables: 0, rows: 0 },
    };
    await assert.rejects(
      DUMP_KINDS.postgres?.verify(dir, info, ctx) ?? Promise.resolve(),
      /db \(PostgreSQL\): the dump is empty, the database was not/,
    );
    // The same dump, of a database that was empty, verifies.
    assert.match(
      (await DUMP_KINDS.postgres?.verify(dir, { ...info, sourceHeldData: false }, ctx)) ?? '',
      /0 tables, 0 rows/,
    );
    // An RDB of an empty Redis (a scratch server on a unix socket only), verified as the snapshot of one that held keys.
    const sock = path.join(dir, 'r.sock');
    const server = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '', '--dir', dir], {
      stdio: 'ignore',
    });
    try {
      await waitFor('scratch redis', () => existsSync(sock));
      execFileSync('redis-cli', ['-s', sock, '--rdb', path.join(dir, 'dump.rdb')], { stdio: 'ignore' });
    } finally {
      server.kill('SIGKILL');
    }
    const rdb: DumpInfo = {
      ...info,
      store: 'redis-cache',
      kind: 'redis',
      meta: { service: 'cache', version: '7', keys: 0 },
    };
    await assert.rejects(
      DUMP_KINDS.redis?.verify(dir, rdb, ctx) ?? Promise.resolve(),
      /cache \(Redis\): the snapshot is empty, Redis was not/,
    );
    assert.match((await DUMP_KINDS.redis?.verify(dir, { ...rdb, sourceHeldData: false }, ctx)) ?? '', /0 keys/);
    psql(url, 'DROP DATABASE empty_one');
  },
);

/** The postmasters serving the production cluster (its backends' command lines do not name it). */
const postmasters = () => {
  const pgdata = path.join(data, 'production', '.berth', 'db', 'pgdata');
  return listPids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(pgdata);
    } catch {
      return false; // gone meanwhile
    }
  });
};

test(
  'berthd killed at each step of a restore of a PostgreSQL dump: after its restart the old or the restored database serves, nothing half-done',
  { skip },
  async () => {
    assert.ok(snapshot, 'the first test made a snapshot of 50 items');
    await sql(host, 'DELETE FROM items WHERE n > 10'); // the current data: 10 items
    // After each step (fetch, stop, swap: the restored data dir in place, start: the fresh cluster
    // healthy), inside start (the fresh cluster running with its schema restored but not its rows),
    // and once the commit has begun. (The same points with SQLite and files: test/backup-crash.)
    const points = [
      ['0:after', false],
      ['1:after', false],
      ['2:after', false],
      ['3:pre-data', false],
      ['3:after', false],
      ['4:before', true],
    ] as const;
    // Each berthd started carries the next point: the one that recovers a cut restore is the next one cut.
    const start = (point: string | undefined) =>
      home.run(['daemon', 'start'], { env: point ? { ...home.env, BERTH_RESTORE_CRASH_AT: point } : home.env });
    assertOk(await home.cli('daemon', 'stop'));
    assertOk(await start(points[0][0]));
    for (const [i, [point, restored]] of points.entries()) {
      const daemon = home.daemonPid() as number;
      const cut = await home.cli('backup', 'restore', 'dbb', snapshot);
      assert.notEqual(cut.code, 0, `${point}: the restore was cut off`);
      await waitFor(`${point}: berthd to be dead`, () => !isAlive(daemon) || procStat(daemon)?.state === 'Z', 10_000);
      assertOk(await start(points[i + 1]?.[0]));
      const count = await waitFor(
        `${point}: the app serving`,
        () => sql(host, 'SELECT count(*) FROM items').catch(() => undefined),
        60_000,
        200,
      );
      assert.equal(count, restored ? '50' : '10', `${point}: ${restored ? 'the restored' : 'the old'} rows serve`);
      const events = await home.json<Array<{ kind: string }>>('events', 'dbb');
      assert.equal(events.at(-1)?.kind, restored ? 'restore.done' : 'restore.failed', point);
      // Nothing half-done: one cluster serves (the one berth runs), with its indexes; no dump, data dir or scratch database left.
      const db = await one('production', 'db');
      assert.equal(db.state, 'healthy', point);
      assert.deepEqual(postmasters(), [db.pid], `${point}: one postgres serves the environment`);
      assert.equal(uidOf(db.pid as number), findUser('berth-dbb')?.uid, `${point}: as the environment user`);
      assert.equal(await sql(host, "SELECT count(*) FROM pg_indexes WHERE tablename = 'items'"), '2', point);
      assert.deepEqual(
        readdirSync(data).filter((n) => n.includes('restore')),
        [],
        `${point}: nothing left aside`,
      );
      assert.ok(!existsSync(path.join(data, 'production', '.berth', 'db', 'seed.dump')), `${point}: no dump left`);
      assert.ok(!existsSync(path.join(home.home, 'backups', 'dbb', 'work', 'production', 'restore')), point);
      assert.equal(await sql(host, "SELECT count(*) FROM pg_database WHERE datname LIKE 'berth_verify%'"), '0');
      if (restored) await sql(host, 'DELETE FROM items WHERE n > 10');
    }
  },
);
