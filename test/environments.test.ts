import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { RouteView } from '../src/api/routes-view.js';
import { branch, git, initRepo } from './helpers/git.js';
import { hit } from './helpers/http.js';
import { assertOk, REPO, TestHome } from './helpers/home.js';
import type { EnvironmentStatus, InstanceStatus } from '../src/core/results.js';

/**
 * Environments per branch (seed 004): production runs main; every feature/* branch gets its
 * own environment with its own hostname, processes, ports, releases and SQLite data, made
 * from a consistent copy of production's. Real git repositories, real processes, real SQLite.
 */
const home = new TestHome('24000-24099');
const P = home.httpPort;
const repo = path.join(home.root, 'clawd');

const messages = async (host: string) =>
  (await hit(P, host, '/messages')).json<{ messages: Array<{ text: string }>; db: string; env: string }>();
const texts = async (host: string) => (await messages(host)).messages.map((m) => m.text);

before(async () => {
  cpSync(path.join(REPO, 'examples', 'clawd'), repo, { recursive: true });
  initRepo(repo, 'clawd');
  await home.cli('daemon', 'start');
});
after(() => home.cleanup());

test("main deploys into production, a feature branch into its own preview with its own hostname and a copy of production's data", async () => {
  assertOk(await home.cli('deploy', repo)); // the checkout is on main
  assert.equal((await hit(P, 'api.clawd.test', '/messages', { method: 'POST', body: 'prod-1' })).status, 201);
  branch(repo, 'feature/a', 'NOTE', 'a\n');
  branch(repo, 'feature/b', 'NOTE', 'b\n');

  const a = await home.json<{ env: string; status: string }>('deploy', repo, '--branch', 'feature/a');
  assert.deepEqual([a.env, a.status], ['feature-a', 'succeeded']);
  const ma = await messages('feature-a.preview.clawd.test');
  assert.deepEqual(
    ma.messages.map((m) => m.text),
    ['prod-1'],
    "the preview starts from a copy of production's data",
  );
  assert.equal(ma.env, 'preview', "the environment's env overrides reach the service");
  assert.equal(ma.db, path.join(home.home, 'data', 'clawd', 'feature-a', 'clawd.db'));

  // Each environment writes only its own database.
  assert.equal(
    (await hit(P, 'feature-a.preview.clawd.test', '/messages', { method: 'POST', body: 'a-only' })).status,
    201,
  );
  assert.deepEqual(await texts('api.clawd.test'), ['prod-1']);
  assertOk(await home.cli('deploy', repo, '--branch', 'feature/b'));
  assert.deepEqual(await texts('feature-b.preview.clawd.test'), ['prod-1'], 'b copied production, not a');
  assert.deepEqual(await texts('feature-a.preview.clawd.test'), ['prod-1', 'a-only']);
  assert.equal((await messages('api.clawd.test')).env, 'production');

  const envs = await home.json<EnvironmentStatus[]>('env', 'ls', 'clawd');
  assert.deepEqual(
    envs.map((e) => [e.name, e.branch, e.preview, e.hosts.join(' '), `${e.instances.healthy}/${e.instances.total}`]),
    [
      ['feature-a', 'feature/a', true, 'feature-a.preview.clawd.test', '1/1'],
      ['feature-b', 'feature/b', true, 'feature-b.preview.clawd.test', '1/1'],
      ['production', 'main', false, 'api.clawd.test', '1/1'],
    ],
  );
  assert.ok(
    envs.every((e) => (e.preview ? (e.expiresAt ?? 0) > Date.now() + 6 * 86_400_000 : e.expiresAt === null)),
    'previews expire after 7 days idle; production never',
  );
  const routes = await home.json<RouteView[]>('routes');
  assert.deepEqual(
    routes
      .filter((r) => r.app === 'clawd')
      .map((r) => `${r.env} ${r.host}`)
      .sort(),
    ['feature-a feature-a.preview.clawd.test', 'feature-b feature-b.preview.clawd.test', 'production api.clawd.test'],
  );
});

test("isolation: own data dir (mode 0700), own processes and ports; the preview's process has no path to production's data", async () => {
  const ps = (await home.json<InstanceStatus[]>('ps', 'clawd')).filter((v) => v.state === 'healthy');
  const byEnv = new Map(ps.map((v) => [v.env, v]));
  assert.equal(new Set(ps.map((v) => v.port)).size, 3, 'three ports');
  assert.equal(new Set(ps.map((v) => v.pid)).size, 3, 'three processes');
  for (const env of ['production', 'feature-a', 'feature-b']) {
    const dir = path.join(home.home, 'data', 'clawd', env);
    assert.equal(statSync(dir).mode & 0o777, 0o700, `${env}'s data dir is private to its owner`);
    const environ = execFileSync('cat', [`/proc/${byEnv.get(env)?.pid}/environ`], { encoding: 'utf8' }).split('\0');
    assert.ok(environ.includes(`DATA_DIR=${dir}`), `${env} gets its own DATA_DIR`);
    assert.ok(
      !environ.some((kv) =>
        kv.includes(path.join(home.home, 'data', 'clawd', env === 'production' ? 'feature-a' : 'production')),
      ),
      "and no other environment's",
    );
  }
});

test('production only ever runs main; branches no environment accepts, and clashing branch names, are refused', async () => {
  const wrongEnv = await home.cli('deploy', repo, '--branch', 'feature/a', '--env', 'production');
  assert.equal(wrongEnv.code, 1);
  assert.match(wrongEnv.stderr, /branch "feature\/a" deploys into environment "feature-a", not "production"/);
  assert.match(wrongEnv.stderr, /"production" only ever runs branch "main"/);
  git(repo, 'checkout', '-q', 'feature/a');
  try {
    const fromCheckout = await home.cli('deploy', repo, '--env', 'production');
    assert.match(
      fromCheckout.stderr,
      /deploys into environment "feature-a", not "production"/,
      'the checked-out branch counts the same way',
    );
  } finally {
    git(repo, 'checkout', '-q', 'main');
  }
  git(repo, 'branch', '-q', 'hotfix/x', 'main');
  const nobody = await home.cli('deploy', repo, '--branch', 'hotfix/x');
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /no environment accepts branch "hotfix\/x"/);
  assert.match(nobody.stderr, /production: main, preview: feature\/\*/);
  assert.match(
    (await home.cli('deploy', repo, '--branch', '--upload-pack=touch /tmp/x')).stderr,
    /is not a branch name Berth accepts/,
  );
  branch(repo, 'feature/x_y', 'NOTE', 'xy\n');
  branch(repo, 'feature/x-y', 'NOTE', 'x-y\n');
  assertOk(await home.cli('deploy', repo, '--branch', 'feature/x_y'));
  const clash = await home.cli('deploy', repo, '--branch', 'feature/x-y');
  assert.equal(clash.code, 1);
  assert.match(
    clash.stderr,
    /environment "feature-x-y" of clawd already runs branch "feature\/x_y"; branch "feature\/x-y" makes the same name/,
  );
  assertOk(await home.cli('env', 'rm', 'clawd', 'feature-x-y'));
  const protectedRm = await home.cli('env', 'rm', 'clawd', 'production');
  assert.equal(protectedRm.code, 1);
  assert.match(protectedRm.stderr, /"production" is not a preview \(it runs branch main\)/);
  assert.match(protectedRm.stderr, /--force/);
});

test("a feature branch cannot redefine its own environment: production's release decides hostnames, data and env", async () => {
  git(repo, 'checkout', '-q', '-b', 'feature/sneaky', 'main');
  const yaml = readFileSync(path.join(repo, 'berth.yaml'), 'utf8')
    .replace('"{branch}.preview.clawd.test"', '"{branch}.evil.test"')
    .replace('CLAWD_ENV: preview', 'CLAWD_ENV: production');
  writeFileSync(path.join(repo, 'berth.yaml'), yaml);
  git(repo, 'commit', '-q', '-am', 'sneaky');
  git(repo, 'checkout', '-q', 'main');
  assertOk(await home.cli('deploy', repo, '--branch', 'feature/sneaky'));
  assert.equal(
    (await hit(P, 'feature-sneaky.evil.test', '/messages')).status,
    404,
    'not the hostname the branch asked for',
  );
  assert.equal(
    (await messages('feature-sneaky.preview.clawd.test')).env,
    'preview',
    "production's definition of previews",
  );
  assertOk(await home.cli('env', 'rm', 'clawd', 'feature-sneaky'));
});

test('a preview whose first deploy fails leaves no environment, data or release behind, only its logs', async () => {
  branch(repo, 'feature/broken', 'app.py', 'raise SystemExit("boom: this branch does not start")\n');
  const r = await home
    .json<{ status: string; error?: string }>('deploy', repo, '--branch', 'feature/broken')
    .catch((err: Error) => ({ status: 'failed', error: err.message }));
  assert.equal(r.status, 'failed');
  assert.match(r.error ?? '', /boom: this branch does not start/);
  assert.ok(!(await home.json<EnvironmentStatus[]>('env', 'ls', 'clawd')).some((e) => e.name === 'feature-broken'));
  for (const dir of ['data', 'releases'])
    assert.ok(!existsSync(path.join(home.home, dir, 'clawd', 'feature-broken')), `no ${dir} dir`);
  // The failed attempt's logs stay readable by its release number (never reused).
  const logs = await home.cli('logs', 'clawd', '--env', 'feature-broken', '--release', '1');
  assert.match(logs.stdout, /boom: this branch does not start/);
});

test('env rm removes one preview completely: processes, ports, routes, releases, logs, data; the others serve on', async () => {
  const before = (await home.json<InstanceStatus[]>('ps', 'clawd')).filter((v) => v.env === 'feature-a');
  assert.equal(before.length, 1);
  const removed = await home.json<{ env: string }>('env', 'rm', 'clawd', 'feature-a');
  assert.equal(removed.env, 'feature-a');
  assert.ok(!(await home.json<InstanceStatus[]>('ps', 'clawd')).some((v) => v.env === 'feature-a'), 'no instance');
  for (const v of before) assert.throws(() => process.kill(v.pid as number, 0), `process ${v.pid} is gone`);
  assert.ok(!(await home.json<RouteView[]>('routes')).some((r) => r.env === 'feature-a'), 'no route');
  assert.equal((await hit(P, 'feature-a.preview.clawd.test', '/messages')).status, 404);
  for (const dir of ['data', 'releases', 'logs'])
    assert.ok(!existsSync(path.join(home.home, dir, 'clawd', 'feature-a')), `no ${dir} dir`);
  assert.ok(
    !existsSync(path.join(home.home, 'trash')) || readdirSync(path.join(home.home, 'trash')).length === 0,
    'nothing left aside',
  );
  const doctor = JSON.parse((await home.cli('doctor', '--json')).stdout) as {
    findings: Array<{ code: string; env?: string }>;
  };
  assert.deepEqual(
    doctor.findings.filter((f) => f.env === 'feature-a'),
    [],
    'doctor finds nothing of it',
  );
  // Its port is free again: a port lease would keep the port held in the store.
  const leased = (await home.json<InstanceStatus[]>('ps')).map((v) => v.port);
  assert.ok(!leased.includes(before[0]?.port ?? -1), 'its port is no longer leased');
  assert.deepEqual(await texts('feature-b.preview.clawd.test'), ['prod-1']);
  assert.deepEqual(await texts('api.clawd.test'), ['prod-1']);
});
