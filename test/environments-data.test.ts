import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { EnvironmentStatus } from '../src/core/results.js';
import { branch, git, initRepo } from './helpers/git.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { hit } from './helpers/http.js';

/**
 * Environments per branch, their data and their end: a preview's copy of production's SQLite data
 * is taken with SQLite's backup API while production writes (never torn), and an idle preview past
 * its `expire` is removed by the daemon. Real git repositories, real processes, real SQLite.
 */
const home = new TestHome('32500-32599');
const P = home.httpPort;
const repo = path.join(home.root, 'clawd');

before(async () => {
  cpSync(path.join(REPO, 'examples', 'clawd'), repo, { recursive: true });
  initRepo(repo, 'clawd');
  assertOk(await home.cli('daemon', 'start'));
  assertOk(await home.cli('deploy', repo));
});
after(() => home.cleanup());

test("the data copy is consistent while production writes: SQLite's backup API, never a torn copy", async () => {
  const db = path.join(home.home, 'data', 'clawd', 'production', 'clawd.db');
  // A writer in its own process: transactions of 20 rows each, as fast as it can, for up to 20 s.
  const writer = spawn(
    'python3',
    [
      '-c',
      `
import sqlite3, time
db = sqlite3.connect(${JSON.stringify(db)}, timeout=10, isolation_level=None)
db.execute("create table if not exists batches (batch integer, n integer)")
end = time.time() + 20
b = 0
while time.time() < end:
    db.execute("begin immediate")
    for n in range(20): db.execute("insert into batches values (?, ?)", (b, n))
    db.execute("commit")
    b += 1
`,
    ],
    { stdio: 'ignore', env: { ...process.env, BERTH_TEST_HOME: home.home } },
  );
  try {
    await waitFor(
      'the writer writing',
      () => {
        try {
          return (
            Number(
              execFileSync(
                'python3',
                [
                  '-c',
                  `import sqlite3; print(sqlite3.connect(${JSON.stringify(db)}, timeout=10).execute("select count(*) from batches").fetchone()[0])`,
                ],
                { encoding: 'utf8' },
              ),
            ) > 1000
          );
        } catch {
          return false;
        }
      },
      10_000,
      100,
    );
    branch(repo, 'feature/copy', 'NOTE', 'copy\n');
    assertOk(await home.cli('deploy', repo, '--branch', 'feature/copy'));
  } finally {
    writer.kill();
  }
  const copy = path.join(home.home, 'data', 'clawd', 'feature-copy', 'clawd.db');
  const check = execFileSync(
    'python3',
    [
      '-c',
      `
import sqlite3
db = sqlite3.connect(${JSON.stringify(copy)})
print(db.execute("pragma integrity_check").fetchone()[0])
torn = db.execute("select count(*) from (select batch from batches group by batch having count(*) != 20)").fetchone()[0]
print(torn, db.execute("select count(*) from batches").fetchone()[0])
`,
    ],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n');
  assert.equal(check[0], 'ok');
  const [torn, rows] = (check[1] ?? '').split(' ').map(Number);
  assert.equal(torn, 0, 'every batch in the copy is whole');
  assert.ok((rows ?? 0) >= 1000, `the copy has production's rows (${rows})`);
  assertOk(await home.cli('env', 'rm', 'clawd', 'feature-copy'));
});

test('an idle preview past its expire is removed by the daemon', async () => {
  const dir = home.app(
    'tick',
    `app: tick
services:
  web:
    run: ["${NODE}", "-e", "require('http').createServer((q, s) => s.end('tick')).listen(process.env.PORT, '127.0.0.1')"]
    routes: [tick.test]
environments:
  production: { branch: main }
  preview: { branch: "try/*", hostname: "{branch}.tick.test", expire: 2s }
`,
  );
  initRepo(dir, 'tick');
  git(dir, 'branch', '-q', 'try/it', 'main');
  assertOk(await home.cli('deploy', dir, '--branch', 'try/it'));
  assert.equal((await hit(P, 'try-it.tick.test', '/')).text(), 'tick');
  await waitFor(
    'the preview expired',
    async () => !(await home.json<EnvironmentStatus[]>('env', 'ls', 'tick')).some((e) => e.name === 'try-it'),
    15_000,
    250,
  );
  assert.equal((await hit(P, 'try-it.tick.test', '/')).status, 404);
  assert.ok(!existsSync(path.join(home.home, 'data', 'tick', 'try-it')));
  const events = await home.json<Array<{ kind: string; message: string }>>('events', 'tick');
  assert.ok(
    events.some((e) => e.kind === 'environment.rm' && /past its expire/.test(e.message)),
    'the removal is an event with its reason',
  );
});
