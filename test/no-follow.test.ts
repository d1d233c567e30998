import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/api/client.js';
import { findUser } from '../src/system/users.js';
import { git, initRepo } from './helpers/git.js';
import { assertOk, NODE, TestHome, waitFor } from './helpers/home.js';

/**
 * berthd (root) never follows a link it did not make while it changes owners, modes or
 * deletes. Apps (as their own users), their builds and their source trees plant links to a
 * victim directory outside BERTH_HOME (to directories and files, dangling, chained, nested),
 * and a process of the app's user swaps links in while berthd walks; after every path that
 * takes back, seals, copies or removes a tree the victim's owners, modes and contents are
 * exactly as they were. Needs root (app users).
 */
const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'needs root: system users per app';
const home = new TestHome('27800-27899');
const templates = path.join(home.root, 'templates');
Object.assign(home.env, { BERTH_APP_USERS: '1', BERTH_TEMPLATES_DIR: templates, BERTH_SITES_DOMAIN: 'sites.test' });
const APPS = ['nfbuild', 'nfsrc', 'nfdata', 'nfprev', 'nfsite', 'nfrace'];
const VICTIM = path.join(home.root, 'victim'); // outside BERTH_HOME (home.root/home)

/** Plants links to the victim in the directory given (argv[2], or $DATA_DIR). */
const PLANT = `const fs = require('fs'), p = require('path');
const d = process.argv[2] || process.env.DATA_DIR, v = ${JSON.stringify(VICTIM)};
const ln = (to, at) => { fs.mkdirSync(p.dirname(p.join(d, at)), { recursive: true }); fs.symlinkSync(to, p.join(d, at)); };
if (!fs.existsSync(p.join(d, 'own.txt'))) {
  ln(v + '/dir', 'dirlink'); ln(v + '/file', 'filelink'); ln(v + '/missing', 'dangling');
  ln('chain2', 'chain1'); ln(v + '/dir', 'chain2'); ln('nested/deeper', 'chain3');
  ln(v + '/dir', 'nested/deeper/escape'); ln(v + '/dir/inner/deep.txt', 'nested/deeper/filelink');
  fs.writeFileSync(p.join(d, 'own.txt'), 'the app\\'s own');
}
`;
const SERVER = `require('./plant.js'); require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, '127.0.0.1');\n`;
const FAILS = `[${JSON.stringify(NODE)}, "-e", "process.exit(1)"]`;

function makeVictim(): void {
  execFileSync('rm', ['-rf', VICTIM]);
  mkdirSync(path.join(VICTIM, 'dir', 'inner'), { recursive: true });
  writeFileSync(path.join(VICTIM, 'file'), 'victim file');
  writeFileSync(path.join(VICTIM, 'dir', 'a.txt'), 'victim a');
  writeFileSync(path.join(VICTIM, 'dir', 'inner', 'deep.txt'), 'victim deep');
  const modes: Array<[string, number]> = [
    ['', 0o755],
    ['file', 0o644],
    ['dir', 0o775],
    ['dir/a.txt', 0o664],
    ['dir/inner', 0o751],
    ['dir/inner/deep.txt', 0o604],
  ];
  for (const [rel, mode] of modes) {
    chownSync(path.join(VICTIM, rel), 4242, 4343); // a stranger's: any chown by berthd shows
    chmodSync(path.join(VICTIM, rel), mode);
  }
}

/** Every entry of the victim: owner, group, mode, contents. */
function victimState(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = path.join(VICTIM, rel);
    const st = lstatSync(p);
    out[rel || '.'] =
      `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}${st.isFile() ? ' ' + readFileSync(p, 'utf8') : ''}`;
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(path.join(rel, n));
  };
  walk('');
  return out;
}

let pristine: Record<string, string> = {};
function assertVictimIntact(what: string): void {
  assert.deepEqual(victimState(), pristine, `${what}: the victim outside BERTH_HOME must be untouched`);
}

before(async () => {
  if (!ROOT) return;
  chmodSync(home.root, 0o711);
  makeVictim();
  pristine = victimState();
  mkdirSync(path.join(templates, 'linky'), { recursive: true });
  writeFileSync(path.join(templates, 'linky', 'plant.js'), PLANT);
  writeFileSync(path.join(templates, 'linky', 'server.js'), SERVER);
  writeFileSync(
    path.join(templates, 'linky', 'berth.yaml'),
    `app: "{{slug}}"\nservices:\n  web:\n    run: ["${NODE}", "server.js"]\n    routes: ["{{host}}"]\n`,
  );
  assertOk(await home.cli('daemon', 'start'));
});
after(async () => {
  if (!ROOT) return;
  await home.cleanup();
  for (const u of readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':')[0] ?? ''))
    if (APPS.some((a) => u === `berth-${a}` || u.startsWith(`berth-${a}-`)))
      await import('../src/system/users.js').then((m) => m.deleteSystemUser(u));
});

test(
  "a build step's links, then a failed start: the undo takes the release back without following them",
  { skip },
  async () => {
    makeVictim();
    const dir = home.app(
      'nfbuild',
      `app: nfbuild\nservices:\n  web:\n    build: '${NODE} plant.js .'\n    run: ${FAILS}\n    health: { start_timeout: 2s }\n`,
      { 'plant.js': PLANT },
    );
    const r = await home.cli('deploy', dir);
    assert.notEqual(r.code, 0, 'the start fails');
    assert.ok(!existsSync(path.join(home.home, 'releases', 'nfbuild')), 'the release is gone');
    assertVictimIntact('undo of a release with build links');
  },
);

test('links in the host source tree, then a failed deploy', { skip }, async () => {
  makeVictim();
  const dir = home.app(
    'nfsrc',
    `app: nfsrc\nservices:\n  web:\n    run: ${FAILS}\n    health: { start_timeout: 2s }\n`,
  );
  execFileSync(NODE, ['-e', PLANT], { env: { DATA_DIR: dir } });
  const r = await home.cli('deploy', dir);
  assert.notEqual(r.code, 0, 'the start fails');
  assert.ok(lstatSync(path.join(dir, 'dirlink')).isSymbolicLink(), 'the source tree is left as it was');
  assertVictimIntact('undo of a release copied from a source tree with links');
});

test('links in $DATA_DIR, then berth rm --purge', { skip }, async () => {
  makeVictim();
  const dir = home.app('nfdata', `app: nfdata\nservices:\n  web:\n    run: ["${NODE}", "server.js"]\n`, {
    'plant.js': PLANT,
    'server.js': SERVER,
  });
  assertOk(await home.cli('deploy', dir));
  assert.ok(lstatSync(path.join(home.home, 'data', 'nfdata', 'production', 'chain1')).isSymbolicLink());
  assertOk(await home.cli('rm', 'nfdata', '--purge'));
  assert.ok(!existsSync(path.join(home.home, 'data', 'nfdata')), 'its data is gone');
  assertVictimIntact('rm --purge');
});

test("a preview's data copy (taken, then given) and berth env rm, with links in the data", { skip }, async () => {
  makeVictim();
  const dir = home.app(
    'nfprev',
    `app: nfprev\nservices:\n  web:\n    run: ["${NODE}", "server.js"]\nenvironments:\n  production: { branch: main }\n  preview: { branch: "f/*", data: { copy: production } }\n`,
    { 'plant.js': PLANT, 'server.js': SERVER },
  );
  initRepo(dir, 'nfprev');
  git(dir, 'branch', 'f/x');
  assertOk(await home.cli('deploy', dir));
  assertOk(await home.cli('deploy', dir, '--branch', 'f/x'));
  const copied = path.join(home.home, 'data', 'nfprev', 'f-x');
  assert.ok(lstatSync(path.join(copied, 'nested', 'deeper', 'escape')).isSymbolicLink(), 'links are copied as links');
  assert.equal(
    lstatSync(path.join(copied, 'own.txt')).uid,
    findUser('berth-nfprev-f-x')?.uid,
    "the copy is the preview's",
  );
  assertVictimIntact('data copy into a preview');
  assertOk(await home.cli('env', 'rm', 'nfprev', 'f-x'));
  assert.ok(!existsSync(copied));
  assertVictimIntact('env rm');
  assertOk(await home.cli('rm', 'nfprev', '--purge'));
  assertVictimIntact('rm --purge of the production environment');
});

test('a site whose app plants links, removed', { skip }, async () => {
  makeVictim();
  const api = new ApiClient(path.join(home.home, 'berthd.sock'));
  await api.call('POST', '/v1/orgs', { name: 'nforg' });
  await api.call('POST', '/v1/orgs/nforg/sites', { slug: 'nfsite', template: 'linky' });
  await waitFor('the site plants its links', () =>
    existsSync(path.join(home.home, 'data', 'nfsite', 'production', 'own.txt')),
  );
  await api.call('DELETE', '/v1/orgs/nforg/sites/nfsite');
  assert.ok(
    !existsSync(path.join(home.home, 'sites', 'nfsite')) && !existsSync(path.join(home.home, 'data', 'nfsite')),
  );
  assertVictimIntact('site removal');
});

/** A process of the app's user that keeps turning directories of `dir` into links to the victim and back. */
function swapper(ids: { uid: number; gid: number }, dir: string): ChildProcess {
  const code = `const fs = require('fs'), p = require('path'), d = process.argv[1], v = ${JSON.stringify(VICTIM + '/dir')};
const n = 24; for (let i = 0; i < n; i++) { fs.mkdirSync(p.join(d, 's' + i, 'sub'), { recursive: true }); fs.writeFileSync(p.join(d, 's' + i, 'f'), 'x'); }
console.log('ready');
const end = Date.now() + 20000;
try {
  for (let k = 0; Date.now() < end; k++) {
    const i = k % n, s = p.join(d, 's' + i), x = s + '.x';
    if (fs.lstatSync(s).isSymbolicLink()) { fs.unlinkSync(s); fs.renameSync(x, s); }
    else { fs.renameSync(s, x); fs.symlinkSync(v, s); }
  }
} catch (e) { process.exit(0); } // taken back (EACCES) or removed (ENOENT): done`;
  return spawn(NODE, ['-e', code, dir], { uid: ids.uid, gid: ids.gid, stdio: ['ignore', 'pipe', 'inherit'] });
}

test("a link swapped in mid-walk by a process of the app's user, during berth rm --purge", { skip }, async () => {
  makeVictim();
  // No link of its own: only the swapper's, which exist only while it runs.
  const dir = home.app('nfrace', `app: nfrace\nservices:\n  web:\n    run: ["${NODE}", "server.js"]\n`, {
    'server.js': SERVER.replace("require('./plant.js'); ", ''),
  });
  assertOk(await home.cli('deploy', dir));
  const ids = findUser('berth-nfrace') as { uid: number; gid: number };
  const child = swapper(ids, path.join(home.home, 'data', 'nfrace', 'production'));
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise((r) => child.stdout?.once('data', r));
  assertOk(await home.cli('rm', 'nfrace', '--purge'));
  await exited;
  assert.ok(!existsSync(path.join(home.home, 'data', 'nfrace')));
  assertVictimIntact('rm --purge while a process of the app swaps links in');
});
