import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { InstanceStatus } from '../../src/core/results.js';
import { listPids } from '../../src/system/proc.js';
import { deleteSystemUser, findUser } from '../../src/system/users.js';
import { hit } from './http.js';
import { assertOk, NODE, type TestHome, waitFor } from './home.js';

/** PostgreSQL 15's programs, as Debian's postgresql-15 installs them. */
export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Why the managed-database tests cannot run here (false: they can): root for the system users, and postgresql-15. */
export const databaseSkip: string | false =
  process.getuid?.() !== 0
    ? 'needs root: system users per environment'
    : !existsSync(`${PG_BIN}/initdb`)
      ? 'needs postgresql-15'
      : false;

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
const manifest = (app: string) => `app: ${app}
services:
  db:
    postgres: 15
  cache:
    redis: 7
  api:
    run: ["${NODE}", "api.js"]
    depends_on: [db, cache]
    routes: [${app}.test]
    # A migration's stand-in: it reaches both databases through what it got (its output goes to the build log).
    release: ${HOOK}
environments:
  production: { branch: main }
  preview: { branch: "feature/*", hostname: "{branch}.{host}", data: { copy: production } }
`;

/** psql with a connection URL, as a client outside Berth would run it. */
export const psql = (url: string, q: string): string =>
  execFileSync(`${PG_BIN}/psql`, [url, '-Atqc', q], {
    encoding: 'utf8',
    stdio: 'pipe',
    env: { PATH: '/usr/bin:/bin' },
  }).trim();

/** The real uid a process runs as. */
export const uidOf = (pid: number): number =>
  Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

/** uidOf for a process that may end meanwhile (then none). */
function uidOfLive(pid: number): number | undefined {
  try {
    return uidOf(pid);
  } catch {
    return undefined;
  }
}

/**
 * An app `app` with a managed PostgreSQL 15 (`db`), a Redis 7 (`cache`) and a service `api`
 * using both, deployed from a git repository (branch main = production, feature/* = previews
 * copying production's data) by a real berthd with app users on: its environments run as the
 * system users `berth-<app>[-<env>]`, so each test file names its own app.
 */
export function databaseApp(home: TestHome, app: string) {
  Object.assign(home.env, { BERTH_APP_USERS: '1' });
  const P = home.httpPort;
  const repo = path.join(home.root, app);
  const host = `${app}.test`;
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t.invalid', ...args], {
      encoding: 'utf8',
    });
  /** SQL run by the app's service (through DATABASE_URL) of the environment served at `on`. */
  const sql = async (on: string, q: string): Promise<string> => {
    const r = await hit(P, on, `/sql?q=${encodeURIComponent(q)}`);
    assert.equal(r.status, 200, r.text());
    return r.text();
  };
  /** A Redis command run by the app's service (through REDIS_URL). */
  const redis = async (on: string, ...args: string[]): Promise<string> => {
    const r = await hit(P, on, `/redis?${args.map((a) => `a=${encodeURIComponent(a)}`).join('&')}`);
    assert.equal(r.status, 200, r.text());
    return r.text();
  };
  const ps = async (env: string) => (await home.json<InstanceStatus[]>('ps', app)).filter((v) => v.env === env);
  /** The running instance of `service` in `env`. */
  const one = async (env: string, service: string) => {
    const v = (await ps(env)).find((x) => x.service === service && x.desired === 'running');
    assert.ok(v, `${service} of ${env} runs`);
    return v;
  };
  /** berthd started, the app committed on main and deployed to production. */
  const setup = async (): Promise<void> => {
    chmodSync(home.root, 0o711); // like /var/lib: traversable by the environments' users
    home.app(app, manifest(app), { 'api.js': API });
    execFileSync('cp', ['-a', path.join(home.root, 'apps', app), repo]);
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', app);
    assertOk(await home.cli('daemon', 'start'));
    assertOk(await home.cli('deploy', repo, '--branch', 'main'));
  };
  /** The home cleaned up, then the environments' system users (`envs`: the non-production ones) removed. */
  const teardown = async (envs: readonly string[] = []): Promise<void> => {
    await home.cleanup();
    for (const u of [`berth-${app}`, ...envs.map((e) => `berth-${app}-${e}`)]) {
      const uid = findUser(u)?.uid;
      if (uid === undefined) continue;
      // A postmaster killed by the cleanup: its backends end a moment later, and userdel refuses a user with processes.
      await waitFor(`${u}'s processes gone`, () => !listPids().some((pid) => uidOfLive(pid) === uid), 15_000, 100);
      await deleteSystemUser(u);
    }
  };
  return { P, repo, host, git, sql, redis, ps, one, setup, teardown };
}
