import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseManifest } from '../src/config/manifest.js';
import type { BackupResult, RestoreResult } from '../src/core/backup-results.js';
import type { InstanceStatus } from '../src/core/results.js';
import { deleteSystemUser, findUser } from '../src/system/users.js';
import { databaseSkip as skip, PG_BIN, uidOf } from './helpers/database-app.js';
import { TestDockerd, withEngine } from './helpers/dockerd.js';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, NODE, TestHome, waitFor } from './helpers/home.js';
import { buildPostgresImage } from './helpers/postgres-image.js';

/**
 * Issue 17, criterion 1's container part: `postgres: 15` with `image: postgres:15` runs the
 * managed cluster from that image through a private dockerd (the image built here FROM scratch
 * out of Debian's postgresql-15: no registry), the same way as from the host's binaries: initdb
 * into $DATA_DIR as the environment's user, a leased 127.0.0.1 port, its password a secret, its
 * dependents' DATABASE_URL, backups verified and restored, a fast shutdown.
 */
const home = new TestHome('26900-26999');
home.env.BERTH_APP_USERS = '1';
const dockerd = new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-')));
withEngine(home, dockerd, async () => {
  chmodSync(home.root, 0o711); // like /var/lib: traversable by the environment's user
  if (!skip) await buildPostgresImage(dockerd, 'postgres:15');
});
after(async () => {
  if (findUser('berth-dbi')) await deleteSystemUser('berth-dbi');
});

const API = `const http = require('http'); const { execFileSync } = require('child_process');
http.createServer((q, s) => {
  const u = new URL(q.url, 'http://x');
  try {
    if (u.pathname === '/env') return s.end(JSON.stringify({ url: process.env.DATABASE_URL, PGPORT: process.env.PGPORT }));
    s.end(execFileSync('${PG_BIN}/psql', [process.env.DATABASE_URL, '-Atqc', u.searchParams.get('q')], { encoding: 'utf8' }).trim());
  } catch (e) { s.statusCode = 500; s.end(String(e.stderr || e.message)); }
}).listen(process.env.PORT, '127.0.0.1');
`;
const MANIFEST = `app: dbi
services:
  db:
    postgres: 15
    image: "postgres:15"
  api:
    run: ["${NODE}", "api.js"]
    depends_on: [db]
    routes: [dbi.test]
`;
const data = path.join(home.home, 'data', 'dbi', 'production', '.berth', 'db');
const sql = async (q: string): Promise<string> => {
  const r = await hit(home.httpPort, 'dbi.test', `/sql?q=${encodeURIComponent(q)}`);
  assert.equal(r.status, 200, r.text());
  return r.text();
};
const db = async (): Promise<InstanceStatus> => {
  const v = (await home.json<InstanceStatus[]>('ps', 'dbi')).find((x) => x.service === 'db');
  assert.ok(v, 'db has an instance');
  return v;
};
interface Listed {
  Id: string;
  Image: string;
  ImageID: string;
  Labels: Record<string, string>;
}
const containers = (all = false) => dockerd.engine.call<Listed[]>('GET', `/containers/json?all=${String(all)}`);

test(
  'image: postgres:15 runs the cluster in a container, as the environment user, on a leased 127.0.0.1 port',
  { skip },
  async () => {
    assertOk(await home.cli('deploy', home.app('dbi', MANIFEST, { 'api.js': API })));
    const v = await db();
    assert.equal(v.state, 'healthy');
    const [c, ...more] = (await containers()).filter((x) => x.Labels['berth.service'] === 'db');
    assert.ok(c && more.length === 0, 'one container runs the database');
    const image = await dockerd.engine.call<{ Id: string }>('GET', '/images/postgres:15/json');
    assert.equal(c.ImageID, image.Id, 'the image the deploy pinned');
    const info = await dockerd.engine.call<{
      Config: { User: string; Entrypoint: string[] };
      HostConfig: { PortBindings: Record<string, { HostIp: string; HostPort: string }[]> };
    }>('GET', `/containers/${c.Id}/json`);
    assert.deepEqual(info.Config.Entrypoint, ['postgres'], "Berth's own argv, not the image's entrypoint");
    assert.deepEqual(Object.values(info.HostConfig.PortBindings).flat(), [
      { HostIp: '127.0.0.1', HostPort: String(v.port) },
    ]);
    const user = findUser('berth-dbi');
    assert.ok(user, 'the environment has its system user');
    assert.equal(uidOf(v.pid as number), user.uid, "postgres runs as the environment's user");
    assert.equal(info.Config.User, `${user.uid}:${user.gid}`);
    assert.equal(statSync(path.join(data, 'pgdata')).uid, user.uid, 'initdb made the cluster in $DATA_DIR/.berth/db');
    assert.equal(readFileSync(path.join(data, 'pgdata', 'PG_VERSION'), 'utf8').trim(), '15');
    const env = JSON.parse((await hit(home.httpPort, 'dbi.test', '/env')).text()) as { url: string; PGPORT: string };
    assert.match(env.url, new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${v.port}/postgres$`));
    assert.equal(env.PGPORT, String(v.port));
    assert.equal(await sql("SELECT current_setting('server_version_num')::int / 10000"), '15');
    await sql('CREATE TABLE items (n int PRIMARY KEY, label text)');
    await sql("INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 30) i");
    assert.equal(await sql('SELECT count(*) FROM items'), '30');
  },
);

test('backup run: pg_dump of the container cluster, verified; rows deleted; restore: rows back', { skip }, async () => {
  const out = await home.cli('backup', 'run', 'dbi', '--json');
  assert.equal(out.code, 0, out.stdout + out.stderr);
  const r = JSON.parse(out.stdout) as BackupResult;
  assert.equal(r.status, 'verified', r.error);
  assert.ok(r.holds.includes('db (PostgreSQL 15): 1 tables, 30 rows'), r.holds.join('; '));
  assert.ok(
    r.verification.some((x) => /^db \(PostgreSQL\): restored into a scratch database .*1 tables, 30 rows$/.test(x)),
    r.verification.join('\n'),
  );
  await sql('DELETE FROM items WHERE n > 5');
  assert.equal(await sql('SELECT count(*) FROM items'), '5');
  const restore = await home.json<RestoreResult>('backup', 'restore', 'dbi', r.snapshot as string);
  assert.equal(restore.status, 'done', restore.error);
  assert.equal(await sql('SELECT count(*), sum(n) FROM items'), '30|465');
  assert.equal((await containers()).filter((x) => x.Labels['berth.service'] === 'db').length, 1);
});

test('berthd killed with SIGKILL: the next one adopts the running database container', { skip }, async () => {
  const v = await db();
  process.kill(home.daemonPid() as number, 'SIGKILL');
  await waitFor('berthd gone', () => !isAlive(home.daemonPid() as number));
  assertOk(await home.cli('daemon', 'start'));
  await waitFor('database healthy again', async () => (await db()).state === 'healthy');
  assert.equal((await db()).pid, v.pid, 'the same postgres, adopted (and stopped by the next test)');
  assert.equal(await sql('SELECT count(*) FROM items'), '30');
});

test(
  'stop is a fast shutdown (the engine sends SIGINT); the next start finds a clean cluster, no recovery',
  { skip },
  async () => {
    const v = await db();
    assertOk(await home.cli('stop', 'dbi', 'db'));
    await waitFor('postgres gone', () => !isAlive(v.pid as number));
    const stopped = await db();
    assert.equal(stopped.lastExit?.code ?? 0, 0, JSON.stringify(stopped.lastExit));
    assert.equal(stopped.lastExit?.signal ?? null, null, 'exited by itself, not killed');
    assert.equal((await containers(true)).filter((x) => x.Labels['berth.service'] === 'db').length, 0, 'removed');
    const log = (await home.cli('logs', 'dbi', 'db')).stdout;
    assert.match(log, /received fast shutdown request/);
    assert.match(log, /database system is shut down/);
    assertOk(await home.cli('start', 'dbi', 'db'));
    await waitFor('database healthy again', async () => (await db()).state === 'healthy');
    const again = (await home.cli('logs', 'dbi', 'db')).stdout.split(/database system is shut down/).pop() ?? '';
    assert.match(again, /database system was shut down at/);
    assert.doesNotMatch(again, /interrupted|automatic recovery|crash/);
    assert.equal(await sql('SELECT count(*) FROM items'), '30');
  },
);

test('bad combinations are refused with what to write instead', () => {
  const bad = (db: string) => () =>
    parseManifest(`app: x\nservices:\n  db: ${db}\n  api: { run: x, depends_on: [db] }\n`, 'berth.yaml');
  assert.throws(
    bad('{ postgres: 15, image: "postgres:16" }'),
    /"postgres:16" is PostgreSQL 16, and `postgres:` says 15/,
  );
  assert.throws(bad('{ postgres: 15, image: "postgres:latest" }'), /must name PostgreSQL's major version \(15\)/);
  assert.throws(bad('{ redis: 7, image: "redis:7" }'), /applies to PostgreSQL only/);
  assert.throws(bad('{ postgres: 15, pull: always }'), /`pull` applies to a database run from an image/);
  const [ok] = parseManifest(
    'app: x\nservices:\n  db: { postgres: 15, image: "postgres:15.4-alpine" }\n',
    'berth.yaml',
  ).services;
  assert.ok(ok);
  assert.equal(ok.kind, 'postgres');
  assert.deepEqual(ok.database, { engine: 'postgres', version: '15', image: 'postgres:15.4-alpine' });
  assert.equal(ok.container?.pull, 'missing');
});

test('removing the app removes its database container and leaves no container behind', { skip }, async () => {
  assertOk(await home.cli('rm', 'dbi', '--purge'));
  assert.deepEqual(
    (await containers(true)).map((x) => x.Labels['berth.service'] ?? x.Id),
    [],
    'no container is left on the engine',
  );
});
