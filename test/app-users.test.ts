import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { findUser } from '../src/system/users.js';
import { hit } from './helpers/http.js';
import { git, initRepo } from './helpers/git.js';
import { assertOk, NODE, TestHome, waitFor } from './helpers/home.js';
import { makeWheel } from './helpers/wheel.js';
import type { InstanceStatus } from '../src/core/results.js';

/**
 * berthd as root runs each app as its own system user. App A's instance tries to read and
 * write app B's data, release, logs and environment, and Berth's own store and key: every
 * attempt is refused by the kernel, while A's own data works. Needs root (as on CI).
 */
const ROOT = process.getuid?.() === 0;
const home = new TestHome('25500-25599');
const P = home.httpPort;
Object.assign(home.env, { BERTH_APP_USERS: '1', BERTH_CRON_MINUTE_MS: '1000' });
const skip = ROOT ? false : 'needs root: system users per app';

// A probe: GET /try?op=read|write|list&path=... answers { ok, code }.
const PROBE = `const fs = require('fs'); const http = require('http');
fs.writeFileSync(process.env.DATA_DIR + '/secret.txt', 'data of ' + process.env.WHO);
console.log('log line of', process.env.WHO);
http.createServer((q, s) => {
  const u = new URL(q.url, 'http://x');
  const p = u.searchParams.get('path');
  try {
    if (u.searchParams.get('op') === 'read') fs.readFileSync(p);
    else if (u.searchParams.get('op') === 'write') fs.writeFileSync(p, 'x');
    else fs.readdirSync(p);
    s.end(JSON.stringify({ ok: true, uid: process.getuid() }));
  } catch (e) { s.end(JSON.stringify({ ok: false, code: e.code, uid: process.getuid() })); }
}).listen(process.env.PORT, '127.0.0.1');
`;
// uzb has resources: it starts through cgroup-exec, which drops to the app's user itself.
const manifest = (app: string) =>
  `app: ${app}\nservices:\n  web:\n    run: ["${NODE}", "probe.js"]\n    env: { WHO: ${app}, TOKEN: token-of-${app} }\n    routes: [${app}.test]\n${app === 'uzb' ? '    resources: { pids: 64 }\n' : ''}`;

before(async () => {
  if (!ROOT) return;
  chmodSync(home.root, 0o711); // the test's temp dir, like /var/lib: traversable
  assertOk(await home.cli('daemon', 'start'));
  for (const app of ['uza', 'uzb'])
    assertOk(await home.cli('deploy', home.app(app, manifest(app), { 'probe.js': PROBE })));
});
after(async () => {
  if (!ROOT) return;
  await home.cleanup();
  for (const u of ['berth-uza', 'berth-uzb', 'berth-uzc', 'berth-uzc-f-x', 'berth-uzd', 'berth-uze'])
    if (findUser(u)) await import('../src/system/users.js').then((m) => m.deleteSystemUser(u));
});

test('each app runs as its own user; its directories belong to it, closed to the others', { skip }, async () => {
  const a = findUser('berth-uza');
  const b = findUser('berth-uzb');
  assert.ok(a && b && a.uid !== b.uid && a.uid !== 0 && b.uid !== 0);
  const ps = await home.json<InstanceStatus[]>('ps');
  const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  assert.equal(uidOf(ps.find((v) => v.app === 'uza')?.pid as number), a.uid);
  const bPid = ps.find((v) => v.app === 'uzb')?.pid as number;
  assert.equal(uidOf(bPid), b.uid);
  const status = readFileSync(`/proc/${bPid}/status`, 'utf8');
  assert.match(status, new RegExp(`^Gid:\\s+${b.gid}\\s`, 'm'));
  assert.match(status, /^Groups:\s*$/m, "no supplementary group of root's");
  assert.match(readFileSync(`/proc/${bPid}/cgroup`, 'utf8'), /:pids:.*\/uzb\.production\.web\.0\.i\d+$/m);
  const own = (p: string) => ({
    uid: statSync(p).uid,
    gid: statSync(p).gid,
    mode: (statSync(p).mode & 0o777).toString(8),
  });
  // The app owns its leaves; every directory berthd acts in stays root's, so no path berthd uses can be swapped for a link.
  assert.deepEqual(own(path.join(home.home, 'data', 'uzb', 'production')), { uid: b.uid, gid: b.gid, mode: '700' });
  assert.deepEqual(own(path.join(home.home, 'data', 'uzb')), { uid: 0, gid: 0, mode: '711' });
  assert.deepEqual(own(path.join(home.home, 'releases', 'uzb')), { uid: 0, gid: 0, mode: '711' });
  assert.deepEqual(
    own(path.join(home.home, 'releases', 'uzb', 'production', '1')),
    { uid: 0, gid: b.gid, mode: '750' },
    'a sealed release: the app reads it, cannot change it',
  );
  assert.deepEqual(own(path.join(home.home, 'logs', 'uzb', 'production')), { uid: 0, gid: 0, mode: '711' });
  assert.deepEqual(own(path.join(home.home, 'logs', 'uzb', 'production', 'web.0.r1.log')), {
    uid: b.uid,
    gid: b.gid,
    mode: '640',
  });
  assert.equal(statSync(path.join(home.home, 'berth.db')).mode & 0o077, 0, "the store is root's alone");
});

test(
  "app A can neither read nor write app B's data, env, release or logs, nor Berth's store and key",
  { skip },
  async () => {
    const tryAs = async (op: string, p: string) =>
      (await hit(P, 'uza.test', `/try?op=${op}&path=${encodeURIComponent(p)}`)).json<{
        ok: boolean;
        code?: string;
      }>();
    const bPid = (await home.json<InstanceStatus[]>('ps', 'uzb'))[0]?.pid as number;
    // A's own data and home: the probe works.
    assert.deepEqual(await tryAs('read', path.join(home.home, 'data', 'uza', 'production', 'secret.txt')), {
      ok: true,
      uid: findUser('berth-uza')?.uid,
    });
    assert.equal(
      (await tryAs('write', path.join(home.home, 'homes', 'uza', 'production', '.cache'))).ok,
      true,
      'a writable HOME of its own',
    );
    // Nor can A change its own sealed release (where the proxy or Caddy serve static files from).
    assert.equal(
      await tryAs('write', path.join(home.home, 'releases', 'uza', 'production', '1', 'planted')).then((r) => r.code),
      'EACCES',
    );
    const refused: Array<[string, string]> = [
      ['read', path.join(home.home, 'data', 'uzb', 'production', 'secret.txt')],
      ['write', path.join(home.home, 'data', 'uzb', 'production', 'planted.txt')],
      ['list', path.join(home.home, 'data', 'uzb')],
      ['list', path.join(home.home, 'releases', 'uzb')],
      ['read', path.join(home.home, 'releases', 'uzb', 'production', '1', 'probe.js')],
      ['read', path.join(home.home, 'logs', 'uzb', 'production', 'web.0.r1.log')],
      ['write', path.join(home.home, 'logs', 'uzb', 'production', 'web.0.r1.log')],
      ['read', `/proc/${bPid}/environ`],
      ['read', path.join(home.home, 'berth.db')],
      ['read', path.join(home.home, 'secrets.key')],
      ['list', path.join(home.home, 'homes', 'uzb')],
      ['write', path.join(home.home, 'logs', 'uzb', 'production', 'planted.log')],
      ['list', home.home],
    ];
    for (const [op, p] of refused) {
      const r = await tryAs(op, p);
      assert.equal(r.ok, false, `${op} ${p} must be refused`);
      assert.ok(['EACCES', 'EPERM'].includes(r.code ?? ''), `${op} ${p}: ${r.code}`);
    }
  },
);

test("berth run and cron jobs run as the app's user: its own data, not another app's", { skip }, async () => {
  const a = findUser('berth-uza');
  const r = await home.cli('run', 'uza', '--', 'sh', '-c', 'id -u; cat "$DATA_DIR/secret.txt"');
  assertOk(r);
  assert.equal(r.stdout, `${a?.uid}\ndata of uza`);
  const other = await home.cli(
    'run',
    'uza',
    '--',
    'cat',
    path.join(home.home, 'data', 'uzb', 'production', 'secret.txt'),
  );
  assert.equal(other.code, 1);
  assert.match(other.stderr, /Permission denied/);
  const cron = `app: uzd\nservices:\n  web:\n    run: ["${NODE}", "probe.js"]\n    env: { WHO: uzd }\ncron:\n  whoami: { schedule: "* * * * *", run: 'echo "uid=$(id -u) $(cat "$DATA_DIR/secret.txt")"' }\n`;
  assertOk(await home.cli('deploy', home.app('uzd', cron, { 'probe.js': PROBE })));
  const d = findUser('berth-uzd');
  const log = await waitFor('a run of the job', async () => {
    const l = await home.cli('logs', 'uzd', '--cron', 'whoami', '-n', '1');
    return l.stdout.includes('uid=') ? l.stdout : undefined;
  });
  assert.equal(log, `uid=${d?.uid} data of uzd\n`);
  const file = statSync(path.join(home.home, 'logs', 'uzd', 'production', 'cron-whoami.log'));
  assert.deepEqual([file.uid, (file.mode & 0o777).toString(8)], [d?.uid, '640']);
  assertOk(await home.cli('rm', 'uzd', '--purge'));
});

test("builds run as the app's user, and a preview's data is copied as it", { skip }, async () => {
  const dir = home.app(
    'uzc',
    `app: uzc\nservices:\n  web:\n    run: ["${NODE}", "probe.js"]\n    build: 'id -un > built-by.txt'\n    env: { WHO: uzc }\n    routes: [uzc.test]\nenvironments:\n  production: { branch: main }\n  preview: { branch: "f/*", hostname: "{branch}.uzc.test", data: { copy: production } }\n`,
    { 'probe.js': PROBE },
  );
  initRepo(dir, 'uzc');
  git(dir, 'branch', 'f/x');
  assertOk(await home.cli('deploy', dir));
  const release = path.join(home.home, 'releases', 'uzc', 'production', '1');
  assert.equal(readFileSync(path.join(release, 'built-by.txt'), 'utf8').trim(), 'berth-uzc');
  assert.deepEqual(
    { uid: statSync(path.join(release, 'built-by.txt')).uid, gid: statSync(path.join(release, 'built-by.txt')).gid },
    { uid: 0, gid: findUser('berth-uzc')?.gid },
    'sealed after the build',
  );
  assertOk(await home.cli('deploy', dir, '--branch', 'f/x'));
  const copied = path.join(home.home, 'data', 'uzc', 'f-x', 'secret.txt');
  const preview = findUser('berth-uzc-f-x');
  assert.ok(preview && preview.uid !== findUser('berth-uzc')?.uid, 'the preview has a user of its own');
  assert.equal(statSync(copied).uid, preview.uid, 'the copy belongs to the preview');
  assert.equal((await hit(P, 'f-x.uzc.test', `/try?op=read&path=${encodeURIComponent(copied)}`)).json().ok, true);
  // Feature-branch code cannot reach production: its data, logs or environ.
  const prodPid = (await home.json<InstanceStatus[]>('ps', 'uzc')).find((v) => v.env === 'production')?.pid as number;
  for (const [op, p] of [
    ['read', path.join(home.home, 'data', 'uzc', 'production', 'secret.txt')],
    ['write', path.join(home.home, 'data', 'uzc', 'production', 'x')],
    ['read', path.join(home.home, 'logs', 'uzc', 'production', 'web.0.r1.log')],
    ['read', `/proc/${prodPid}/environ`],
    ['list', path.join(home.home, 'homes', 'uzc', 'production')],
  ] as const) {
    const r = (await hit(P, 'f-x.uzc.test', `/try?op=${op}&path=${encodeURIComponent(p)}`)).json<{
      ok: boolean;
      code?: string;
    }>();
    assert.deepEqual([r.ok, r.code], [false, 'EACCES'], `preview ${op} ${p}`);
  }
  assertOk(await home.cli('env', 'rm', 'uzc', 'f-x'));
  assert.equal(findUser('berth-uzc-f-x'), undefined, "the preview's user goes with it");
  assert.ok(findUser('berth-uzc'), "production's stays");
  assertOk(await home.cli('rm', 'uzc', '--purge'));
  assert.equal(findUser('berth-uzc'), undefined);
});

test("a virtualenv is built, and reused by the next release, as the app's user", { skip }, async () => {
  const wheels = path.join(home.root, 'wheels');
  makeWheel(wheels);
  const dir = home.app(
    'uze',
    `app: uze\nservices:\n  web:\n    run: ["${NODE}", "probe.js"]\n    cwd: web\n    build: python -c "import tinydep"\n    env: { WHO: uze, PIP_NO_INDEX: "1", PIP_FIND_LINKS: "${wheels}" }\n  docs:\n    static: docs\n    cwd: docs\n`,
    { 'web/probe.js': PROBE, 'web/requirements.txt': 'tinydep\n', 'docs/index.html': 'v1\n' },
  );
  assertOk(await home.cli('deploy', dir));
  const user = findUser('berth-uze');
  const venv = (n: number) => path.join(home.home, 'releases', 'uze', 'production', String(n), 'web', '.venv');
  const site = path.join(venv(1), 'lib');
  assert.deepEqual([statSync(site).uid, statSync(site).gid], [0, user?.gid], "sealed: root's, the group the app's");
  assert.equal(
    statSync(path.join(home.home, 'homes', 'uze', 'production')).uid,
    user?.uid,
    'its home (with the pip cache) is its own',
  );
  writeFileSync(path.join(dir, 'docs', 'index.html'), 'v2\n');
  assertOk(await home.cli('deploy', dir));
  const log = readFileSync(path.join(home.home, 'logs', 'uze', 'production', 'build-2.log'), 'utf8');
  assert.match(log, /inputs unchanged since release 1, its output reused/);
  assert.equal(
    readFileSync(path.join(venv(2), 'bin', 'tinydep-hello'), 'utf8').split('\n')[0],
    `#!${venv(2)}/bin/python`,
  );
  const run = await home.cli('run', 'uze', 'tinydep-hello');
  assertOk(run, 'berth run');
  assert.match(run.stdout, /hello from tinydep 42/);
  assertOk(await home.cli('rm', 'uze', '--purge'));
});

test("berth rm --purge removes the app's user with its data", { skip }, async () => {
  assertOk(await home.cli('rm', 'uzb', '--purge'));
  assert.equal(findUser('berth-uzb'), undefined);
  assert.equal((await hit(P, 'uza.test', '/try?op=list&path=/')).json().ok, true, 'the other app runs on');
});
