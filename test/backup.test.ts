import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BackupView } from '../src/engine/backup/backups.js';
import type { RestoreResult } from '../src/engine/backup/restore.js';
import { DUMP_KINDS, type DumpInfo } from '../src/engine/backup/stores.js';
import { sqliteApp, SQLITE } from './helpers/backup-app.js';
import { assertOk, NODE, TestHome, waitFor } from './helpers/home.js';

/**
 * `berth backup run|ls|restore` with real restic (a local repository), an app writing rows to
 * SQLite in its $DATA_DIR while it runs.
 */
const home = new TestHome('28600-28639');
const { manifest, dataDir, rows, backupRun, restic } = sqliteApp(home);

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
});
after(() => home.cleanup());

test('backup run while the app writes, ls, delete the rows, restore: the rows are back', async () => {
  assertOk(await home.cli('deploy', home.app('shop', manifest('shop', '{ to: local }'))));
  assert.equal(await rows('shop', 'add?n=7'), 7);
  writeFileSync(path.join(dataDir('shop'), 'notes.txt'), 'kept as it is\n');
  const { code, r } = await backupRun('shop');
  assert.equal(code, 0, JSON.stringify(r));
  assert.equal(r.status, 'verified');
  assert.match(r.snapshot ?? '', /^[0-9a-f]{8,64}$/);
  assert.ok(r.holds.includes('app.db: 1 tables, 7 rows'), r.holds.join('; '));
  assert.ok(r.verification.some((v) => /app\.db: integrity_check ok, 1 tables, 7 rows/.test(v)));
  assert.ok(r.verification.includes('restic check: ok'));
  const human = await home.cli('backup', 'ls', 'shop');
  assertOk(human);
  assert.match(human.stdout, new RegExp(`${r.snapshot} .* yes `));
  const ls = await home.json<BackupView[]>('backup', 'ls', 'shop');
  assert.deepEqual(
    ls.map((b) => [b.snapshot, b.verified]),
    [[r.snapshot, true]],
  );

  assert.equal(await rows('shop', 'clear'), 0);
  writeFileSync(path.join(dataDir('shop'), 'notes.txt'), 'changed after the backup\n');
  const restore = await home.json<RestoreResult>('backup', 'restore', 'shop', r.snapshot as string);
  assert.equal(restore.status, 'done', restore.error);
  assert.equal(await rows('shop'), 7, 'the rows are back, served by the restarted app');
  assert.equal(readFileSync(path.join(dataDir('shop'), 'notes.txt'), 'utf8'), 'kept as it is\n');
  assert.deepEqual(
    readdirSync(path.dirname(dataDir('shop'))).filter((n) => n.includes('restore')),
    [],
    'nothing left aside',
  );
});

test('a symlink planted in $DATA_DIR is backed up as a link, never followed', async () => {
  const outside = path.join(home.root, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(path.join(outside, 'secret.txt'), 'TOP-SECRET-OUTSIDE\n');
  const db = path.join(outside, 'other.db');
  const make = `new (require(${JSON.stringify(SQLITE)}))(${JSON.stringify(db)}).exec("create table leaked (x); insert into leaked values ('TOP-SECRET-DB')")`;
  execFileSync(NODE, ['-e', make]);
  symlinkSync(path.join(outside, 'secret.txt'), path.join(dataDir('shop'), 'leak.txt'));
  symlinkSync(outside, path.join(dataDir('shop'), 'leakdir'));
  symlinkSync(db, path.join(dataDir('shop'), 'other.db'));
  const { code, r } = await backupRun('shop');
  assert.equal(code, 0, JSON.stringify(r));
  assert.ok(!r.holds.some((h) => h.includes('other.db')), `no database behind a link: ${r.holds.join('; ')}`);
  // What the snapshot holds, read back with restic itself.
  const target = path.join(home.root, 'inspect');
  restic('shop', ['restore', r.snapshot as string, '--target', target]);
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const n of readdirSync(dir)) {
      const p = path.join(dir, n);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) found.push(`link ${n}`);
      else if (/TOP-SECRET/.test(readFileSync(p, 'latin1'))) found.push(`secret in ${n}`);
    }
  };
  walk(target);
  assert.deepEqual(found.sort(), ['link leak.txt', 'link leakdir', 'link other.db']);
});

test('verification: an empty dump of a store that held data fails; a corrupt SQLite copy fails integrity_check', async () => {
  const dir = mkdtempSync(path.join(home.root, 'dump-'));
  const files: DumpInfo = {
    store: 'files',
    kind: 'files',
    holds: '',
    bytes: 0,
    sourceHeldData: true,
    meta: { files: 0, links: 0, bytes: 0 },
  };
  await assert.rejects(
    DUMP_KINDS.files?.verify(dir, files) ?? Promise.resolve(),
    /the dump is empty, the data dir was not/,
  );
  const sqlite: DumpInfo = {
    ...files,
    store: 'sqlite-1',
    kind: 'sqlite',
    meta: { path: 'app.db', tables: 0, rows: 0 },
  };
  execFileSync(NODE, [
    '-e',
    `new (require(${JSON.stringify(SQLITE)}))(${JSON.stringify(path.join(dir, 'db.sqlite'))}).close()`,
  ]);
  await assert.rejects(
    DUMP_KINDS.sqlite?.verify(dir, sqlite) ?? Promise.resolve(),
    /the copy is empty, the database was not/,
  );
  const good = path.join(dir, 'db.sqlite');
  execFileSync(NODE, [
    '-e',
    `const d = new (require(${JSON.stringify(SQLITE)}))(${JSON.stringify(good)}); d.exec("create table t (x); create index i on t (x)"); d.transaction(() => { for (let i = 0; i < 2000; i++) d.prepare("insert into t values (?)").run("v" + i); })(); d.close()`,
  ]);
  const bytes = readFileSync(good);
  bytes.fill(0x55, 4096 * 2, 4096 * 3); // a page of the table or index overwritten
  writeFileSync(good, bytes);
  await assert.rejects(
    DUMP_KINDS.sqlite?.verify(dir, { ...sqlite, meta: { path: 'app.db', tables: 1, rows: 2000 } }) ?? Promise.resolve(),
    /app\.db: (integrity_check failed|the copy does not open)/,
  );
});

test('a lock left by a restic that was killed (berthd stopped mid-check) does not stop the next backup', async () => {
  assertOk(await home.cli('deploy', home.app('locked', manifest('locked', '{ to: local }'))));
  await rows('locked', 'add?n=2');
  assert.equal((await backupRun('locked')).r.status, 'verified');
  // `restic check` holds an exclusive lock; killed, it leaves the lock behind, as a berthd stopped mid-check does.
  const repo = path.join(home.home, 'backups', 'locked', 'repo');
  // A lock file's name is its 64-hex id (restic writes it as <id>-tmp-<n> first, then renames it).
  const locks = () => readdirSync(path.join(repo, 'locks')).filter((n) => /^[0-9a-f]{64}$/.test(n));
  const check = spawn('restic', ['check', '--read-data'], {
    env: {
      ...process.env,
      RESTIC_REPOSITORY: repo,
      RESTIC_PASSWORD_FILE: path.join(home.home, 'backups', 'locked', 'password'),
      RESTIC_CACHE_DIR: path.join(home.root, 'restic-cache'),
    },
    stdio: 'ignore',
  });
  const exited = new Promise((r) => check.once('exit', r));
  await waitFor('the check to take its lock', () => locks().length === 1, 30_000, 10);
  check.kill('SIGKILL');
  await exited;
  assert.equal(locks().length, 1, 'the killed check left its lock');
  const { code, r } = await backupRun('locked');
  assert.equal(code, 0, JSON.stringify(r));
  assert.equal(r.status, 'verified');
  assert.deepEqual(locks(), [], 'the stale lock is gone');
  assertOk(await home.cli('rm', 'locked'));
});
