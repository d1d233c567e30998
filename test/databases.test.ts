import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BackupResult, RestoreResult } from '../src/core/backup-results.js';
import type { InstanceStatus } from '../src/core/results.js';
import type { DumpContext } from '../src/engine/backup/database-stores.js';
import { DUMP_KINDS, type DumpInfo } from '../src/engine/backup/stores.js';
import { databaseBinaries } from '../src/system/database-binaries.js';
import { deleteSystemUser, findUser } from '../src/system/users.js';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, BIN, NODE, TestHome, waitFor } from './helpers/home.js';

/**
 * Managed PostgreSQL 15 and Redis 7 (issue 17, criteria 1 and 5), from Debian's packages, run
 * by a real berthd as root with app users on: one cluster and one Redis per environment, as its
 * user, on a leased port, with a generated password; the app's service reaches both through
 * DATABASE_URL / PG* / REDIS_URL only. A redeploy keeps the database running with its data; a
 * preview gets its own copy; stop is a fast shutdown; a restarted berthd adopts the server.
 */
const ROOT = process.getuid?.() === 0;
const PG_BIN = '/usr/lib/postgresql/15/bin';
const skip = !ROOT
  ? 'needs root: system users per environment'
  : !existsSync(`${PG_BIN}/initdb`)
    ? 'needs postgresql-15'
    : false;
const home = new TestHome('28400-28499');
Object.assign(home.env, { BERTH_APP_USERS: '1' });
const P = home.httpPort;
const repo = path.join(home.root, 'dbz');
const USERS = ['berth-dbz', 'berth-dbz-feature-x', 'berth-dbz-feature-bad'];

// The app: answers what it got of its databases, and runs SQL and Redis commands through DATABASE_URL and REDIS_URL.
const API = `const http = require('http'); const { execFileSync } = require('child_process');
const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' }).trim();
http.createServer((q, s) => {
  const u = new URL(q.url, 'http://x');
  try {
    if (u.pathname === '/env') return s.end(JSON.stringify({
      uid: process.getuid(), PGHOST: process.env.PGHOST, PGPORT: process.env.PGPORT, PGUSER: process.env.PGUSER,
      PGDATABASE: process.env.PGDATABASE, password: (process.env.PGPASSWORD || '').length,
      pg: /^postgres:\\/\\/postgres:[^@]+@127\\.0\\.0\\.1:\\d+\\/postgres$/.test(process.env.DATABASE_URL || ''),
      redis: /^redis:\\/\\/default:[^@]+@127\\.0\\.0\\.1:\\d+\\/0$/.test(process.env.REDIS_URL || '') }));
    if (u.pathname === '/sql') return s.end(run('${PG_BIN}/psql', [process.env.DATABASE_URL, '-Atqc', u.searchParams.get('q')]));
    if (u.pathname === '/redis') return s.end(run('redis-cli', ['-u', process.env.REDIS_URL, '--no-auth-warning', ...u.searchParams.getAll('a')]));
    s.end('ok');
  } catch (e) { s.statusCode = 500; s.end(String(e.stderr || e.message)); }
}).listen(process.env.PORT, '127.0.0.1');
`;
const HOOK = JSON.stringify([
  'sh',
  '-c',
  `echo "hook: $(${PG_BIN}/psql "$DATABASE_URL" -Atqc 'SELECT 40+2') $(redis-cli -u "$REDIS_URL" --no-auth-warning PING)"`,
]);
const MANIFEST = `app: dbz
services:
  db:
    postgres: 15
  cache:
    redis: 7
  api:
    run: ["${NODE}", "api.js"]
    depends_on: [db, cache]
    routes: [dbz.test]
    # A migration's stand-in: it reaches both databases through what it got (its output goes to the build log).
    release: ${HOOK}
environments:
  production: { branch: main }
  preview: { branch: "feature/*", hostname: "{branch}.{host}", data: { copy: production } }
`;

function git(...args: string[]): string {
  return execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t.invalid', ...args], {
    encoding: 'utf8',
  });
}

const sql = async (host: string, q: string) => {
  const r = await hit(P, host, `/sql?q=${encodeURIComponent(q)}`);
  assert.equal(r.status, 200, r.text());
  return r.text();
};
const redis = async (host: string, ...args: string[]) => {
  const r = await hit(P, host, `/redis?${args.map((a) => `a=${encodeURIComponent(a)}`).join('&')}`);
  assert.equal(r.status, 200, r.text());
  return r.text();
};
const ps = async (env: string) => (await home.json<InstanceStatus[]>('ps', 'dbz')).filter((v) => v.env === env);
const one = async (env: string, service: string) => {
  const v = (await ps(env)).find((x) => x.service === service && x.desired === 'running');
  assert.ok(v, `${service} of ${env} runs`);
  return v;
};
const psql = (url: string, q: string) =>
  execFileSync(`${PG_BIN}/psql`, [url, '-Atqc', q], {
    encoding: 'utf8',
    stdio: 'pipe',
    env: { PATH: '/usr/bin:/bin' },
  }).trim();
const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

before(async () => {
  if (skip) return;
  chmodSync(home.root, 0o711); // like /var/lib: traversable by the environments' users
  home.app('dbz', MANIFEST, { 'api.js': API });
  const src = path.join(home.root, 'apps', 'dbz');
  execFileSync('cp', ['-a', src, repo]);
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'dbz');
  assertOk(await home.cli('daemon', 'start'));
  assertOk(await home.cli('deploy', repo, '--branch', 'main'));
});
after(async () => {
  if (skip) return;
  await home.cleanup();
  for (const u of USERS) if (findUser(u)) await deleteSystemUser(u);
});

test(
  'postgres and redis run as the environment user; the service reaches them through DATABASE_URL, PG* and REDIS_URL',
  { skip },
  async () => {
    const user = findUser('berth-dbz');
    assert.ok(user && user.uid !== 0);
    const db = await one('production', 'db');
    const cache = await one('production', 'cache');
    assert.equal(db.state, 'healthy');
    assert.equal(cache.state, 'healthy');
    assert.equal(uidOf(db.pid as number), user.uid, 'postgres runs as berth-dbz');
    assert.equal(uidOf(cache.pid as number), user.uid, 'redis runs as berth-dbz');
    const env = (await hit(P, 'dbz.test', '/env')).json<Record<string, unknown>>();
    assert.deepEqual(
      { ...env, password: (env.password as number) >= 32 },
      {
        uid: user.uid,
        PGHOST: '127.0.0.1',
        PGPORT: String(db.port),
        PGUSER: 'postgres',
        PGDATABASE: 'postgres',
        password: true,
        pg: true,
        redis: true,
      },
    );
    await sql('dbz.test', 'CREATE TABLE notes (text text)');
    await sql('dbz.test', "INSERT INTO notes VALUES ('from production')");
    assert.equal(await sql('dbz.test', 'SELECT text FROM notes'), 'from production');
    assert.equal(await redis('dbz.test', 'SET', 'k', 'production'), 'OK');
    // The password is a secret of the environment, listed by name, never printed.
    const secrets = await home.cli('secrets', 'ls', 'dbz');
    assert.match(secrets.stdout, /DB_PASSWORD/);
    assert.match(secrets.stdout, /CACHE_PASSWORD/);
    // `berth db url`: redacted, unless --show; the URL shown opens the database.
    const redacted = await home.cli('db', 'url', 'dbz', 'db');
    assertOk(redacted);
    assert.equal(redacted.stdout.trim(), `postgres://postgres:[redacted]@127.0.0.1:${db.port}/postgres`);
    const cacheUrl = (await home.cli('db', 'url', 'dbz', 'cache')).stdout.trim();
    assert.equal(cacheUrl, `redis://default:[redacted]@127.0.0.1:${cache.port}/0`);
    const shown = (await home.cli('db', 'url', 'dbz', 'db', '--show')).stdout.trim();
    assert.equal(psql(shown, 'SELECT text FROM notes'), 'from production');
    assert.match((await home.cli('db', 'url', 'dbz')).stderr, /several databases: cache, db/);
    // Its cluster is in the environment's data directory, the environment user's alone.
    const pgdata = path.join(home.home, 'data', 'dbz', 'production', '.berth', 'db', 'pgdata');
    assert.ok(existsSync(path.join(pgdata, 'PG_VERSION')));
    const cmdline = readFileSync(`/proc/${cache.pid}/cmdline`, 'utf8');
    assert.doesNotMatch(cmdline, /requirepass/, 'the Redis password is never on a command line');
  },
);

test('a release hook runs after the databases started: it gets DATABASE_URL and REDIS_URL', { skip }, async () => {
  const api = await one('production', 'api');
  const log = (n: number | null) =>
    readFileSync(path.join(home.home, 'logs', 'dbz', 'production', `build-${n}.log`), 'utf8');
  // The first deploy: no database ran before it, and the hook reached both.
  assert.match(log(api.release), /^hook: 42 PONG$/m);
});

test('a redeploy keeps the database process, its port and its data; the service restarts', { skip }, async () => {
  const db = await one('production', 'db');
  const cache = await one('production', 'cache');
  const api = await one('production', 'api');
  writeFileSync(path.join(repo, 'README'), 'a change\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'change');
  assertOk(await home.cli('deploy', repo, '--branch', 'main'));
  const db2 = await one('production', 'db');
  const cache2 = await one('production', 'cache');
  const api2 = await one('production', 'api');
  assert.notEqual(api2.release, api.release, 'a new release');
  assert.equal(db2.release, api2.release, 'the database moved to the new release');
  assert.deepEqual([db2.pid, db2.port, cache2.pid, cache2.port], [db.pid, db.port, cache.pid, cache.port]);
  assert.notEqual(api2.pid, api.pid);
  assert.equal(await sql('dbz.test', 'SELECT text FROM notes'), 'from production');
  assert.equal(await redis('dbz.test', 'GET', 'k'), 'production');
  // Its release hook ran with the database kept running (moved to the new release before the hook).
  assert.match(
    readFileSync(path.join(home.home, 'logs', 'dbz', 'production', `build-${api2.release}.log`), 'utf8'),
    /^hook: 42 PONG$/m,
  );
  // The old release's instances are gone; the database is not one of them.
  assert.equal((await ps('production')).filter((v) => v.service === 'db').length, 1);
});

test(
  'a preview gets its own copy of both databases: own user, port and password; writes stay apart',
  { skip },
  async () => {
    git('checkout', '-q', '-b', 'feature/x');
    writeFileSync(path.join(repo, 'FEATURE'), 'x\n');
    git('add', '-A');
    git('commit', '-q', '-m', 'feature');
    git('checkout', '-q', 'main');
    assertOk(await home.cli('deploy', repo, '--branch', 'feature/x'));
    const host = 'feature-x.dbz.test';
    const prodDb = await one('production', 'db');
    const db = await one('feature-x', 'db');
    const cache = await one('feature-x', 'cache');
    assert.notEqual(db.port, prodDb.port);
    const user = findUser('berth-dbz-feature-x');
    assert.ok(user);
    assert.equal(uidOf(db.pid as number), user.uid);
    assert.equal(uidOf(cache.pid as number), user.uid);
    // The copy: production's row and key are there.
    assert.equal(await sql(host, 'SELECT text FROM notes'), 'from production');
    assert.equal(await redis(host, 'GET', 'k'), 'production');
    // Writes stay in their own environment, both ways.
    await sql(host, "INSERT INTO notes VALUES ('from preview')");
    await sql('dbz.test', "INSERT INTO notes VALUES ('later in production')");
    await redis(host, 'SET', 'k', 'preview');
    assert.equal(await sql(host, 'SELECT text FROM notes ORDER BY 1'), 'from preview\nfrom production');
    assert.equal(await sql('dbz.test', 'SELECT text FROM notes ORDER BY 1'), 'from production\nlater in production');
    assert.equal(await redis('dbz.test', 'GET', 'k'), 'production');
    assert.equal(await redis(host, 'GET', 'k'), 'preview');
    // Its own password: production's does not open the preview's cluster.
    const secrets = JSON.parse((await home.cli('secrets', 'ls', 'dbz', '--json')).stdout) as Array<{
      name: string;
      env: string | null;
    }>;
    assert.ok(secrets.some((s) => s.name === 'DB_PASSWORD' && s.env === 'feature-x'));
    assert.ok(secrets.some((s) => s.name === 'DB_PASSWORD' && s.env === 'production'));
    const prodUrl = (await home.cli('db', 'url', 'dbz', 'db', '--show')).stdout.trim();
    const previewUrl = (await home.cli('db', 'url', 'dbz', 'db', '--env', 'feature-x', '--show')).stdout.trim();
    assert.ok(previewUrl.endsWith(`@127.0.0.1:${db.port}/postgres`), previewUrl.replace(/:[^:@]+@/, ':***@'));
    assert.notEqual(prodUrl, previewUrl);
    const crossed = prodUrl.replace(`:${prodDb.port}/`, `:${db.port}/`);
    assert.throws(() => psql(crossed, 'SELECT 1'), /password authentication failed/);
    assert.equal(psql(previewUrl, 'SELECT count(*) FROM notes'), '2');
  },
);

test('berthd killed with SIGKILL: the next one adopts the running servers', { skip }, async () => {
  const db = await one('production', 'db');
  const cache = await one('production', 'cache');
  process.kill(home.daemonPid() as number, 'SIGKILL');
  await waitFor('berthd gone', () => !isAlive(home.daemonPid() as number));
  assertOk(await home.cli('daemon', 'start'));
  await waitFor('database healthy again', async () => (await one('production', 'db')).state === 'healthy');
  const after = await one('production', 'db');
  assert.equal(after.pid, db.pid, 'the same postgres, adopted');
  assert.equal((await one('production', 'cache')).pid, cache.pid);
  assert.equal(await sql('dbz.test', 'SELECT count(*) FROM notes'), '2');
});

test('stopping a database is a fast shutdown (SIGINT to postgres), never SIGKILL', { skip }, async () => {
  const db = await one('production', 'db');
  assertOk(await home.cli('stop', 'dbz', 'db', '--env', 'production'));
  await waitFor('postgres gone', () => !isAlive(db.pid as number));
  const v = (await ps('production')).find((x) => x.service === 'db');
  assert.equal(v?.lastExit?.signal ?? null, null, 'exited by itself');
  const log = (await home.cli('logs', 'dbz', 'db')).stdout;
  assert.match(log, /received fast shutdown request/);
  assert.match(log, /database system is shut down/);
  assertOk(await home.cli('start', 'dbz', 'db', '--env', 'production'));
  await waitFor('database healthy again', async () => (await one('production', 'db')).state === 'healthy');
  assert.equal(await sql('dbz.test', 'SELECT count(*) FROM notes'), '2');
});

test(
  'backup: postgres dumped (pg_dump) and redis snapshotted while they run, each verified; rows and keys deleted, restore: back',
  { skip },
  async () => {
    await sql('dbz.test', 'CREATE TABLE items (n int PRIMARY KEY, label text UNIQUE)');
    await sql('dbz.test', "INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 50) i");
    assert.equal(await redis('dbz.test', 'SET', 'kept', 'yes'), 'OK');
    const db = await one('production', 'db');
    const out = await home.cli('backup', 'run', 'dbz', '--json');
    const r = JSON.parse(out.stdout) as BackupResult;
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.equal(r.status, 'verified', r.error);
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
    const url = (await home.cli('db', 'url', 'dbz', 'db', '--show')).stdout.trim();
    assert.equal(psql(url, "SELECT count(*) FROM pg_database WHERE datname LIKE 'berth_verify%'"), '0', 'dropped');
    assert.equal(db.pid, (await one('production', 'db')).pid, 'taken while postgres ran');

    await sql('dbz.test', 'DELETE FROM items WHERE n > 10');
    await sql('dbz.test', 'DROP TABLE notes');
    await redis('dbz.test', 'DEL', 'kept');
    await redis('dbz.test', 'SET', 'k', 'changed');
    const restore = await home.json<RestoreResult>('backup', 'restore', 'dbz', r.snapshot as string);
    assert.equal(restore.status, 'done', restore.error);
    assert.equal(await sql('dbz.test', 'SELECT count(*), sum(n) FROM items'), '50|1275');
    assert.equal(await sql('dbz.test', 'SELECT count(*) FROM notes'), '2');
    // post-data restored: the constraints are there again.
    assert.equal(
      await sql('dbz.test', "SELECT count(*) FROM pg_indexes WHERE tablename = 'items'"),
      '2',
      'primary key and unique index',
    );
    assert.equal(await redis('dbz.test', 'GET', 'kept'), 'yes');
    assert.equal(await redis('dbz.test', 'GET', 'k'), 'production');
    const after = await one('production', 'db');
    assert.notEqual(after.pid, db.pid, 'a fresh cluster');
    assert.equal(uidOf(after.pid as number), findUser('berth-dbz')?.uid, 'still the environment user');
    const data = path.join(home.home, 'data', 'dbz');
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
    const url = (await home.cli('db', 'url', 'dbz', 'db', '--show')).stdout.trim();
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

test(
  'berth run (and so a cron job) gets the databases as the service does: PG*, DATABASE_URL, REDIS_URL',
  { skip },
  async () => {
    const pg = await home.cli('run', 'dbz', '--', `${PG_BIN}/psql`, '-Atqc', 'SELECT count(*) FROM notes');
    assertOk(pg);
    assert.equal(pg.stdout.trim(), '2');
    const url = await home.cli(
      'run',
      'dbz',
      '--',
      'sh',
      '-c',
      `${PG_BIN}/psql "$DATABASE_URL" -Atqc 'SELECT count(*) FROM items'`,
    );
    assertOk(url);
    assert.equal(url.stdout.trim(), '50');
    const cache = await home.cli('run', 'dbz', '--', 'sh', '-c', 'redis-cli -u "$REDIS_URL" --no-auth-warning GET k');
    assertOk(cache);
    assert.equal(cache.stdout.trim(), 'production');
  },
);

test(
  'berth db shell: psql or redis-cli as the environment user, stdin attached, the password never on its command line',
  { skip },
  async () => {
    const pg = await home.run(['db', 'shell', 'dbz', 'db'], {
      input: "SELECT 1+1;\n\\! id -u\n\\! tr '\\0' ' ' < /proc/$PPID/cmdline; echo\n",
    });
    assertOk(pg);
    const [sum, uid, cmdline] = pg.stdout.split('\n').filter((l) => /^\s*\S/.test(l) && !/^[-?]|column|row/.test(l));
    assert.equal(sum?.trim(), '2', pg.stdout);
    assert.equal(Number(uid), findUser('berth-dbz')?.uid, 'psql runs as the environment user');
    assert.equal(cmdline?.trim(), `${PG_BIN}/psql`, 'no password, no URL on its command line');
    const kv = await home.run(['db', 'shell', 'dbz', 'cache'], { input: 'PING\nGET k\n' });
    assertOk(kv);
    assert.deepEqual(kv.stdout.trim().split('\n'), ['PONG', 'production']);
    const api = await home.run(['db', 'shell', 'dbz', 'api']);
    assert.notEqual(api.code, 0);
    assert.match(api.stderr, /no running database "api"/);
    // Refused, before asking berthd anything: from another host, and not as root.
    const remote = await home.run(['db', 'shell', 'dbz', 'db'], {
      env: { ...home.env, BERTH_URL: `http://127.0.0.1:${P}` },
    });
    assert.match(remote.stderr, /runs psql or redis-cli on berthd's host, and this berth talks to berthd at/);
    const notRoot = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', NODE, BIN, 'db', 'shell', 'dbz'],
      {
        env: home.env,
        encoding: 'utf8',
      },
    );
    assert.equal(notRoot.status, 1);
    assert.match(notRoot.stderr, /needs root on berthd's host/);
  },
);

test('a release hook that fails on a first deploy removes the databases started for it', { skip }, async () => {
  git('checkout', '-q', '-b', 'feature/bad');
  writeFileSync(
    path.join(repo, 'berth.yaml'),
    readFileSync(path.join(repo, 'berth.yaml'), 'utf8').replace(/release: .*$/m, 'release: ["sh", "-c", "exit 3"]'),
  );
  git('commit', '-q', '-am', 'bad hook');
  git('checkout', '-q', 'main');
  const r = await home.cli('deploy', repo, '--branch', 'feature/bad', '--json');
  assert.notEqual(r.code, 0);
  const result = JSON.parse(r.stdout) as { error?: string; steps: Array<{ name: string; status: string }> };
  assert.match(result.error ?? '', /release hook of api failed/);
  assert.deepEqual(
    result.steps.slice(3, 5).map((s) => [s.name, s.status]),
    [
      ['start wave 1: db, cache', 'undone'],
      ['run release hook of api', 'failed'],
    ],
  );
  assert.deepEqual(await ps('feature-bad'), [], 'its database and cache were started, then removed');
  const user = findUser('berth-dbz-feature-bad');
  const procs = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && existsSync(`/proc/${p}/status`));
  const owner = (p: string) => {
    try {
      return uidOf(Number(p));
    } catch {
      return -1; // gone meanwhile
    }
  };
  assert.ok(!user || procs.every((p) => owner(p) !== user.uid), 'no process of its user is left');
  assert.equal((await one('production', 'db')).state, 'healthy', 'production untouched');
});
