import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hit } from './helpers/http.js';
import { NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { assertOk } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('23800-23899');
const P = home.httpPort;
before(() => home.cli('daemon', 'start'));
after(() => home.cleanup());

interface Result {
  id: number;
  release: number | null;
  status: string;
  steps: Array<{ name: string; status: string; ms: number | null }>;
  error?: string;
}

const deploy = async (...args: string[]) => {
  const r = await home.cli('deploy', ...args, '--json');
  return { code: r.code, result: JSON.parse(r.stdout) as Result, stderr: r.stderr };
};
const releasesDir = (app: string) => path.join(home.home, 'releases', app, 'production');
const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  });

test('a release is a clean snapshot (no .git, nothing .gitignore excludes) built from scratch', async () => {
  const dir = home.app(
    'snap',
    `app: snap\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    build: ["echo built >> build-count", "test ! -e secret.txt"]\n    routes: [snap.test]\n`,
    {
      '.gitignore': 'secret.txt\nnode_modules/\nbuild-count\n',
      'secret.txt': 'not for releases',
      'node_modules/x.js': '1',
      'untracked.txt': 'kept',
    },
  );
  git(dir, 'init', '-q');
  git(dir, 'add', 'berth.yaml', '.gitignore');
  git(dir, 'commit', '-qm', 'first');
  writeFileSync(path.join(dir, 'build-count'), 'stale from an earlier build\n');
  const first = await deploy(dir);
  assert.equal(first.code, 0, first.stderr + JSON.stringify(first.result));
  assert.deepEqual(
    first.result.steps.map((s) => s.name),
    [
      'snapshot source as release 1',
      'build web',
      'record release 1',
      'start wave 1: web',
      'switch traffic to release 1',
      'prune old releases',
    ],
  );
  assert.ok(first.result.steps.every((s) => s.status === 'done' && typeof s.ms === 'number'));
  const r1 = path.join(releasesDir('snap'), '1');
  assert.deepEqual(readdirSync(r1).sort(), ['.gitignore', 'berth.yaml', 'build-count', 'untracked.txt']);
  assert.equal(readFileSync(path.join(r1, 'build-count'), 'utf8'), 'built\n', 'the build ran in a fresh directory');
  writeFileSync(path.join(dir, 'untracked.txt'), 'changed');
  const second = await deploy(dir);
  assert.equal(second.result.release, 2);
  assert.equal(
    readFileSync(path.join(releasesDir('snap'), '2', 'build-count'), 'utf8'),
    'built\n',
    'nothing of the last build leaks in',
  );
});

test('--ref deploys a commit with `git archive`, whatever the working tree holds', async () => {
  const dir = home.app(
    'reffed',
    `app: reffed\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    env: { VERSION: one }\n    routes: [reffed.test]\n`,
  );
  git(dir, 'init', '-q');
  git(dir, 'add', '.');
  git(dir, 'commit', '-qm', 'one');
  git(dir, 'tag', 'v1');
  writeFileSync(
    path.join(dir, 'berth.yaml'),
    readFileSync(path.join(dir, 'berth.yaml'), 'utf8').replace('VERSION: one', 'VERSION: two'),
  );
  git(dir, 'commit', '-qam', 'two');
  writeFileSync(path.join(dir, 'berth.yaml'), 'app: reffed\nservices: {}\n'); // a broken working tree must not matter
  const r = await deploy(dir, '--ref', 'v1');
  assert.equal(r.code, 0, r.stderr);
  const [web] = await home.json<InstanceStatus[]>('ps', 'reffed');
  const env = (await hit(P, 'reffed.test', '/env')).json();
  assert.equal(env.VERSION, 'one');
  assert.ok(web);
  const bad = await home.cli('deploy', dir, '--ref', '--upload-pack=touch /tmp/pwned');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /is not a branch, tag or commit name/);
  assert.ok(!existsSync('/tmp/pwned'));
});

test('a failing build starts nothing and changes nothing', async () => {
  const dir = home.app(
    'broken-build',
    `app: broken-build\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    env: { VERSION: good }\n    routes: [bb.test]\n`,
  );
  assert.equal((await deploy(dir)).code, 0);
  const before = await home.json<InstanceStatus[]>('ps', 'broken-build');
  writeFileSync(
    path.join(dir, 'berth.yaml'),
    `app: broken-build\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    build: "echo compiling; echo 'error: Cannot find module email-validator' >&2; exit 2"\n    env: { VERSION: bad }\n    routes: [bb.test]\n`,
  );
  const r = await deploy(dir);
  assert.equal(r.code, 1);
  assert.equal(r.result.status, 'failed');
  assert.match(
    r.result.error ?? '',
    /build web: build of web failed: `echo compiling; .*` exited with code 2; last log lines:\n {2}compiling\n {2}error: Cannot find module email-validator/,
  );
  assert.deepEqual(
    r.result.steps.map((s) => s.status),
    ['undone', 'failed', 'pending', 'pending', 'pending', 'pending', 'pending', 'pending'],
  );
  assert.deepEqual(
    (await home.json<InstanceStatus[]>('ps', 'broken-build')).map((s) => [s.pid, s.port]),
    before.map((s) => [s.pid, s.port]),
  );
  assert.equal((await hit(P, 'bb.test', '/env')).json().VERSION, 'good');
  assert.deepEqual(readdirSync(releasesDir('broken-build')), ['1']);
});

test('a release that never becomes healthy: the old one keeps serving; it fails within start_timeout + 1 s with its log lines', async () => {
  const dir = home.app(
    'sick',
    `app: sick\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [sick.test]\n`,
  );
  assert.equal((await deploy(dir)).code, 0);
  const before = await home.json<InstanceStatus[]>('ps', 'sick');
  writeFileSync(
    path.join(dir, 'berth.yaml'),
    `app: sick\nservices:\n  web:\n    run: "echo connecting to the database; sleep 60"\n    health: { start_timeout: 2s }\n    routes: [sick.test]\n`,
  );
  const r = await deploy(dir);
  assert.equal(r.code, 1); // the message says it gave up at its start_timeout
  assert.match(
    r.result.error ?? '',
    /sick\/web\[0\] did not become ready \(unhealthy\): not ready after 2(\.\d)? s: nothing listens on port \d+; last log lines:\n {2}connecting to the database/,
  );
  assert.deepEqual(
    (await home.json<InstanceStatus[]>('ps', 'sick')).map((s) => [s.pid, s.state, s.release]),
    before.map((s) => [s.pid, 'healthy', 1]),
  );
  assert.equal((await hit(P, 'sick.test', '/')).status, 200);
});

test('rollback restores code, env and routes together', async () => {
  const dir = home.app(
    'back',
    `app: back\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    env: { VERSION: one }\n    routes: [one.back.test]\n`,
  );
  assert.equal((await deploy(dir)).code, 0);
  writeFileSync(
    path.join(dir, 'berth.yaml'),
    `app: back\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    env: { VERSION: two }\n    routes: [two.back.test]\n`,
  );
  assert.equal((await deploy(dir)).code, 0);
  assert.equal((await hit(P, 'two.back.test', '/env')).json().VERSION, 'two');
  assert.equal((await hit(P, 'one.back.test', '/env')).status, 404);
  const rb = await home.cli('rollback', 'back', '--json');
  assert.equal(rb.code, 0, rb.stderr);
  assert.equal(JSON.parse(rb.stdout).release, 1);
  assert.equal((await hit(P, 'one.back.test', '/env')).json().VERSION, 'one');
  assert.equal((await hit(P, 'two.back.test', '/env')).status, 404);
  const again = await home.cli('rollback', 'back', '1');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /release 1 is already current/);
  const list = await home.json<{
    releases: Array<{ number: number; current: boolean }>;
    deployments: Array<{ kind: string; status: string }>;
  }>('releases', 'back');
  assert.deepEqual(
    list.releases.map((r) => [r.number, r.current]),
    [
      [2, false],
      [1, true],
    ],
  );
  assert.deepEqual(
    list.deployments.map((d) => [d.kind, d.status]),
    [
      ['rollback', 'succeeded'],
      ['deploy', 'succeeded'],
      ['deploy', 'succeeded'],
    ],
  );
});

test('strategy recreate stops the old instance before the new one starts', async () => {
  const dir = home.app(
    'worker',
    `app: worker\nservices:\n  jobs:\n    run: "echo worker $$; sleep 60"\n    port: none\n`,
  );
  assert.equal((await deploy(dir)).code, 0);
  const [old] = await home.json<InstanceStatus[]>('ps', 'worker');
  writeFileSync(
    path.join(dir, 'berth.yaml'),
    `app: worker\nservices:\n  jobs:\n    run: "echo worker v2 $$; sleep 60"\n    port: none\n`,
  );
  assert.equal((await deploy(dir)).code, 0);
  const events = (await home.json<Array<{ message: string }>>('events', 'worker')).map((e) => e.message);
  // Events name the release of each instance: the old one stopped before the new one started.
  const stoppedOld = events.findIndex((m) => m === 'jobs[0]@r1 stopping -> stopped');
  const startedNew = events.indexOf('jobs[0]@r2 pending -> starting');
  assert.ok(stoppedOld >= 0 && stoppedOld < startedNew, JSON.stringify(events));
  assert.notEqual((await home.json<InstanceStatus[]>('ps', 'worker'))[0]?.pid, old?.pid);
});

test('one deployment per environment: a second fails at once naming the first, or waits with --wait', async () => {
  // The first deployment's build waits for the test to open a gate, so the second surely meets it running.
  const gate = path.join(home.root, 'slow-gate');
  const dir = home.app(
    'slow',
    `app: slow\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    build: "while [ ! -e ${gate} ]; do sleep 0.1; done"\n    routes: [slow.test]\n`,
  );
  const first = home.cli('deploy', dir, '--json');
  await waitFor(
    'the first deployment to be building',
    async () =>
      (
        await home
          .json<{ deployments: Array<{ status: string }> }>('releases', 'slow')
          .catch(() => ({ deployments: [] }))
      ).deployments[0]?.status === 'running',
  );
  writeFileSync(path.join(dir, 'extra.txt'), 'x');
  const second = await home.cli('deploy', dir);
  assert.equal(second.code, 1);
  assert.match(
    second.stderr,
    /a deployment of slow \(production\) is already running: #\d+ \(deploy\), started .*, now at "build web"\n {2}hint: wait for it, or pass --wait/,
  );
  const waited = home.cli('deploy', dir, '--wait', '--json');
  writeFileSync(gate, '');
  assert.equal((await first).code, 0);
  const w = await waited;
  assert.equal(w.code, 0, w.stderr);
  assert.equal(JSON.parse(w.stdout).release, 2);
});

test('20 apps deployed in parallel: every port leased once', async () => {
  const dirs = Array.from({ length: 20 }, (_, i) =>
    home.app(`par${i}`, `app: par${i}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    instances: 2\n`),
  );
  const results = await Promise.all(dirs.map((d) => home.cli('deploy', d, '--json')));
  for (const r of results) assertOk(r);
  const ps = (await home.json<InstanceStatus[]>('ps')).filter((s) => s.app.startsWith('par'));
  assert.equal(ps.length, 40);
  assert.equal(new Set(ps.map((s) => s.port)).size, 40);
  for (let i = 0; i < 20; i++) assertOk(await home.cli('rm', `par${i}`));
});

test('the last 5 releases are kept', async () => {
  const dir = home.app('many', `app: many\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n`);
  for (let i = 1; i <= 7; i++) {
    writeFileSync(path.join(dir, 'n.txt'), String(i));
    assert.equal((await deploy(dir)).code, 0);
  }
  assert.deepEqual(readdirSync(releasesDir('many')).sort(), ['3', '4', '5', '6', '7']);
  const list = await home.json<{ releases: Array<{ number: number }> }>('releases', 'many');
  assert.deepEqual(
    list.releases.map((r) => r.number),
    [7, 6, 5, 4, 3],
  );
});
