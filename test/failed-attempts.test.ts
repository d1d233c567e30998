import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { assertOk, NODE, REPO, TestHome } from './helpers/home.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('27300-27399');
after(() => home.cleanup());

interface Releases {
  releases: Array<{ number: number; current: boolean }>;
  attempts: Array<{ number: number; status: string; error: string | null }>;
}

const manifest = (build: string, env = '') =>
  `app: tries\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    build: "${build}"\n${env ? `    env: { ${env} }\n` : ''}`;

let dir = '';

test('a failed first deploy keeps its events, its build log and its number', async () => {
  dir = home.app('tries', manifest('echo attempt-one; exit 3'));
  const up = await home.cli('up', dir);
  assert.notEqual(up.code, 0);
  assert.doesNotMatch((await home.cli('ps')).stdout, /tries/, 'the app itself is gone: nothing runs');
  const events = await home.cli('events', 'tries');
  assertOk(events, 'events');
  assert.match(events.stdout, /deploy of release 1 failed/);
  const build = await home.cli('logs', 'tries', '--build');
  assertOk(build, 'logs --build');
  assert.match(build.stdout, /attempt-one/);
  const r = await home.json<Releases>('releases', 'tries');
  assert.deepEqual(
    r.attempts.map((a) => [a.number, a.status]),
    [[1, 'failed']],
  );
});

test('release numbers are never reused: each attempt keeps its own build and instance logs', async () => {
  writeFileSync(path.join(dir, 'berth.yaml'), manifest('echo attempt-two'));
  assertOk(await home.cli('up', dir), 'up 2');
  // An attempt whose instance does not start: its build and its instance's last lines stay its own.
  writeFileSync(path.join(dir, 'berth.yaml'), manifest('echo attempt-three', 'CRASH: "7"'));
  const crash = await home.cli('up', dir);
  assert.notEqual(crash.code, 0);
  writeFileSync(path.join(dir, 'berth.yaml'), manifest('echo attempt-four'));
  assertOk(await home.cli('up', dir), 'up 4');

  const r = await home.json<Releases>('releases', 'tries');
  assert.deepEqual(
    r.releases.map((x) => [x.number, x.current]),
    [
      [4, true],
      [2, false],
    ],
  );
  assert.deepEqual(
    r.attempts.map((a) => [a.number, a.status]),
    [
      [3, 'failed'],
      [1, 'failed'],
    ],
  );
  assert.match((await home.cli('releases', 'tries')).stdout, /^3\s+failed\s.*did not become ready/m);
  for (const [n, word] of [
    [1, 'attempt-one'],
    [2, 'attempt-two'],
    [3, 'attempt-three'],
    [4, 'attempt-four'],
  ] as const) {
    const log = await home.cli('logs', 'tries', '--build', '--release', String(n));
    assertOk(log, `build log ${n}`);
    assert.equal(log.stdout.trim(), word, `release ${n}'s build log is its own`);
  }
  const failed = await home.cli('logs', 'tries', '--release', '3');
  assertOk(failed, 'logs --release 3');
  assert.match(failed.stdout, /boom: cannot connect to the database \(exit 7\)/);
  const current = await home.cli('logs', 'tries');
  assert.doesNotMatch(current.stdout, /boom/, "the running release's log quotes none of the failed attempt's lines");
  const none = await home.cli('logs', 'tries', '--build', '--release', '9');
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /no build log of release 9/);
});
