import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { findUser } from '../src/system/users.js';
import { databaseApp, databaseSkip as skip, PG_BIN, psql, uidOf } from './helpers/database-app.js';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, BIN, NODE, TestHome, waitFor } from './helpers/home.js';

/**
 * Managed PostgreSQL 15 and Redis 7 (issue 17, criteria 1 and 5), from Debian's packages, run
 * by a real berthd as root with app users on: one cluster and one Redis per environment, as its
 * user, on a leased port, with a generated password; the app's service, its release hook,
 * `berth run` and `berth db shell` reach both through DATABASE_URL / PG* / REDIS_URL only. A
 * redeploy keeps the database running with its data; a preview gets its own copy; stop is a
 * fast shutdown; a restarted berthd adopts the server. Backups and restores of the same app:
 * test/database-backups.
 */
const home = new TestHome('26500-26599');
const { P, repo, git, sql, redis, ps, one, setup, teardown } = databaseApp(home, 'dbz');

before(async () => {
  if (!skip) await setup();
});
after(async () => {
  if (!skip) await teardown(['feature-x', 'feature-bad']);
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
      `${PG_BIN}/psql "$DATABASE_URL" -Atqc 'SELECT text FROM notes ORDER BY 1'`,
    );
    assertOk(url);
    assert.equal(url.stdout.trim(), 'from production\nlater in production');
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
