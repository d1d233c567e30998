import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { userInfo } from 'node:os';
import { after, test } from 'node:test';
import { getJson, isAlive } from './helpers/http.js';
import { NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { assertOk } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('23200-23299');
const other = new TestHome('23300-23399');
after(async () => {
  await home.cleanup();
  await other.cleanup();
});

const web = (app: string, extra = '') => `app: ${app}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n${extra}`;

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

async function assertNothingOf(h: TestHome, app: string): Promise<void> {
  assert.deepEqual(await h.json<InstanceStatus[]>('ps'), [], `${app} left instances behind`);
  const r = await h.cli('ps', app);
  assert.equal(r.code, 1);
}

test('`npx berth --help` works from the repository root', async () => {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync('npx', ['berth', '--help'], { cwd: REPO, encoding: 'utf8', env: home.env, timeout: 60_000 });
  assert.match(out, /^Usage: berth \[options\] \[command\]/);
});

test('--help works and lists the commands', async () => {
  const r = await home.cli('--help');
  assert.equal(r.code, 0);
  for (const cmd of [
    'up',
    'deploy',
    'rollback',
    'releases',
    'ps',
    'routes',
    'logs',
    'stop',
    'start',
    'restart',
    'rm',
    'events',
    'proxy',
    'daemon',
  ])
    assert.match(r.stdout, new RegExp(`\\n  ${cmd}\\b`));
});

test('ps --json gives app, env, service, state, pid, port, restarts; up twice changes nothing', async () => {
  const dir = home.app('shop', web('shop', '    instances: 2\n'));
  const up = await home.json<{ status: string; release: number }>('up', dir);
  assert.deepEqual([up.status, up.release], ['succeeded', 1]);
  const rows = await home.json<InstanceStatus[]>('ps');
  assert.equal(rows.length, 2);
  for (const r of rows) {
    assert.deepEqual([r.app, r.env, r.service, r.state], ['shop', 'production', 'web', 'healthy']);
    assert.ok(Number.isInteger(r.pid) && Number.isInteger(r.port) && r.restarts === 0);
  }
  assert.notEqual(rows[0]?.port, rows[1]?.port);
  const again = await home.json<{ status: string; release: number }>('up', dir);
  assert.deepEqual([again.status, again.release], ['unchanged', 1]);
  assert.deepEqual(
    (await home.json<InstanceStatus[]>('ps')).map((r) => r.pid),
    rows.map((r) => r.pid),
  );
  const table = await home.cli('ps');
  assert.match(table.stdout, /^APP\s+ENV\s+SERVICE\s+RELEASE\s+STATE\s+PID\s+PORT\s+UPTIME\s+RESTARTS/);
  assert.match(table.stdout, /shop\s+production\s+web\[1\]\s+1\s+healthy\s+\d+\s+\d+/);
});

test('changing the manifest deploys a new release and retires the old instances', async () => {
  const dir = home.app('shop', web('shop', '    env: { VERSION: 2 }\n'));
  const before = await home.json<InstanceStatus[]>('ps', 'shop');
  const up = await home.json<{ status: string; release: number }>('up', dir);
  assert.deepEqual([up.status, up.release], ['succeeded', 2]);
  const after = await home.json<InstanceStatus[]>('ps', 'shop');
  assert.equal(after.length, 1, 'the old release is stopped and forgotten');
  assert.notEqual(after[0]?.pid, before[0]?.pid);
  await waitFor('old instances to be gone', () => before.every((r) => !isAlive(r.pid as number)), 5000);
  const env = await waitFor('the new env', () => getJson<Record<string, string>>(after[0]?.port as number, '/env'));
  assert.equal(env.VERSION, '2');
});

test('unknown app or service: a message and exit 1', async () => {
  const r = await home.cli('ps', 'nope');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'error: no app named "nope"\n  hint: known apps: shop\n');
  const s = await home.cli('restart', 'shop', 'nope');
  assert.equal(s.code, 1);
  assert.match(s.stderr, /app "shop" has no service "nope"\n {2}hint: its services: web/);
  const e = await home.cli('restart', 'shop', '--env', 'staging');
  assert.equal(e.code, 1);
  assert.match(
    e.stderr,
    /app "shop" has no environment "staging"\n {2}hint: its environments: production \(choose one with --env\)/,
  );
  const j = await home.cli('stop', 'nope', '--json');
  assert.equal(j.code, 1);
  assert.equal(JSON.parse(j.stdout).error.code, 'app_not_found');
});

test('a manifest error changes nothing and says where the problem is', async () => {
  const dir = other.app('broken', 'app: broken\nservices:\n  web:\n    run: node x.js\n    port: eighty\n');
  const r = await other.cli('up', dir);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `error: ${dir}/berth.yaml:5:11: services.web.port: expected "auto", "none" or a whole number from 1 to 65535, got "eighty"\n  hint: use \`port: auto\` to lease a free port, pin one like \`port: 8000\`, or \`port: none\` for a worker\n  hint: fix ${dir}/berth.yaml and run the command again\n`.replace(
      '\n  hint: fix',
      '\n  hint: fix',
    ),
  );
  await assertNothingOf(other, 'broken');
});

test('a failed start of a new app undoes all of it: no row, no lease, no process', async () => {
  const dir = other.app(
    'badstart',
    `app: badstart\nservices:\n  db:\n    run: ["${NODE}", "${SERVER}"]\n  web:\n    run: ["./not-a-program.sh"]\n    depends_on: [db]\n`,
    { 'not-a-program.sh': '#!/nonexistent/python3\nprint("hi")\n' },
  );
  const r = await other.cli('up', dir);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^error: deploy #\d+ of badstart \(production\) failed; nothing changed: start wave 2: web: starting badstart\/web\[0\]: cannot execute \.\/not-a-program\.sh: the interpreter on its #! line does not exist/,
  );
  await assertNothingOf(other, 'badstart');
});

test('a program that does not exist is refused before anything starts', async () => {
  const dir = other.app(
    'noprog',
    'app: noprog\nservices:\n  web:\n    run: ["definitely-not-installed-xyz", "--port", "1"]\n',
  );
  const r = await other.cli('up', dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /service "web": cannot find an executable "definitely-not-installed-xyz" on PATH/);
  await assertNothingOf(other, 'noprog');
});

test('a full port range changes nothing', async () => {
  const tiny = new TestHome('23400-23400');
  try {
    const dir = tiny.app(
      'two',
      `app: two\nservices:\n  a:\n    run: ["${NODE}", "${SERVER}"]\n  b:\n    run: ["${NODE}", "${SERVER}"]\n`,
    );
    const r = await tiny.cli('up', dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no free port in 23400-23400: 1 leased by Berth, 0 in use by other processes/);
    await assertNothingOf(tiny, 'two');
  } finally {
    await tiny.cleanup();
  }
});

test('a pinned port held by a foreign process: refused with pid, user and command, nothing started', async () => {
  const squatter = await listen(23450);
  try {
    const dir = other.app('pinned', web('pinned', '    port: 23450\n'));
    const r = await other.cli('up', dir);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `cannot use pinned port 23450: port 23450 is held by pid ${process.pid} \\(user ${userInfo().username}\\): ${process.execPath}`,
      ),
    );
    await assertNothingOf(other, 'pinned');
  } finally {
    squatter.close();
  }
});

test('two BERTH_HOMEs run two daemons that never see each other', async () => {
  const dir = other.app('shop', web('shop'));
  assertOk(await other.cli('up', dir));
  const mine = await home.json<InstanceStatus[]>('ps', 'shop');
  const theirs = await other.json<InstanceStatus[]>('ps', 'shop');
  assert.notEqual(home.daemonPid(), other.daemonPid());
  assert.ok((theirs[0]?.port as number) >= 23300 && (theirs[0]?.port as number) < 23400);
  assert.ok((mine[0]?.port as number) >= 23200 && (mine[0]?.port as number) < 23300);
  assertOk(await other.cli('rm', 'shop'));
  assert.deepEqual(
    (await home.json<InstanceStatus[]>('ps', 'shop')).map((r) => r.pid),
    mine.map((r) => r.pid),
  );
});

test('logs, stop, start, restart and rm --purge', async () => {
  const logs = await home.cli('logs', 'shop', '-n', '1');
  assert.equal(logs.code, 0);
  assert.match(logs.stdout, /^listening on \d+\n$/);
  const stopped = await home.json<InstanceStatus[]>('stop', 'shop', 'web');
  assert.equal(stopped[0]?.state, 'stopped');
  const restarted = await home.json<InstanceStatus[]>('restart', 'shop');
  assert.equal(restarted[0]?.state, 'healthy');
  const dataDir = path.join(home.home, 'data', 'shop', 'production');
  assert.ok(existsSync(dataDir));
  assertOk(await home.cli('rm', 'shop'));
  assert.ok(existsSync(dataDir), 'rm keeps the data dir');
  await waitFor('the removed instance to be gone', () => !isAlive(restarted[0]?.pid as number), 5000);
  await assertNothingOf(home, 'shop');
  assertOk(await home.cli('up', home.app('shop', web('shop'))));
  assertOk(await home.cli('rm', 'shop', '--purge'));
  assert.ok(!existsSync(dataDir), 'rm --purge deletes the data dir');
  assert.ok(!existsSync(path.join(home.home, 'logs', 'shop')));
});

test('daemon status and stop: apps outlive berthd', async () => {
  assertOk(await home.cli('up', home.app('keep', web('keep'))));
  const [k] = await home.json<InstanceStatus[]>('ps', 'keep');
  const status = await home.cli('daemon', 'status');
  assert.match(status.stdout, /^berthd 0\.1\.0 running, pid \d+/);
  assertOk(await home.cli('daemon', 'stop'));
  const down = await home.cli('daemon', 'status');
  assert.equal(down.code, 3);
  assert.match(down.stdout, /berthd is not running/);
  assert.equal((await getJson<{ pid: number }>(k?.port as number)).pid, k?.pid);
  assert.equal((await home.json<InstanceStatus[]>('ps', 'keep'))[0]?.pid, k?.pid);
});

test('logs --json prints one { service, instance, line } object per line', async () => {
  assertOk(await home.cli('up', home.app('jsonlogs', web('jsonlogs', '    instances: 2\n'))));
  await waitFor(
    'both to log',
    async () => (await home.cli('logs', 'jsonlogs', '--json')).stdout.trim().split('\n').length === 2,
  );
  const lines = (await home.cli('logs', 'jsonlogs', '--json')).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.service, l.instance]).sort(), [
    ['web', 0],
    ['web', 1],
  ]);
  for (const l of lines) assert.match(l.line, /^listening on \d+$/);
  const text = await home.cli('logs', 'jsonlogs');
  assert.match(text.stdout, /^web\[0\] \| listening on \d+\nweb\[1\] \| listening on \d+\n$/);
});

test('logs -f follows new lines as they are written', async () => {
  const { spawn } = await import('node:child_process');
  const { BIN } = await import('./helpers/home.js');
  const follower = spawn(process.execPath, [BIN, 'logs', 'jsonlogs', 'web', '-f', '-n', '0'], { env: home.env });
  let out = '';
  follower.stdout.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await new Promise((r) => setTimeout(r, 500));
    assertOk(await home.cli('restart', 'jsonlogs'));
    await waitFor(
      'the restarted instances to show up in the followed log',
      () => (out.match(/listening on/g) ?? []).length >= 2,
      10_000,
    );
  } finally {
    follower.kill();
  }
});
