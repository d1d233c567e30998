import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { listPids, procEnvValue, procStat } from '../src/system/proc.js';
import { findUser } from '../src/system/users.js';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * `release:` hooks: a Django migration run once per deploy, after the build and before any
 * instance starts, as the app's user with the new release's env; a failing one leaves the
 * serving release as it was; berthd killed during one neither runs it again nor leaves it running.
 */
const ROOT = process.getuid?.() === 0;
const home = new TestHome('30400-30499');
const P = home.httpPort;
// As root (as on CI) the apps run as system users of their own: the hook must too.
if (ROOT) {
  Object.assign(home.env, { BERTH_APP_USERS: '1' });
  chmodSync(home.root, 0o711); // the test's temp dir, like /var/lib: traversable
}
after(async () => {
  await home.cleanup();
  if (ROOT) for (const u of ['berth-notes', 'berth-hookcut']) await deleteUser(u);
});

async function deleteUser(name: string): Promise<void> {
  if (findUser(name)) await import('../src/system/users.js').then((m) => m.deleteSystemUser(name));
}

const DJANGO = path.join(REPO, 'test', 'fixtures', 'django-notes');
const djangoManifest = (version: number) => `app: notes
services:
  web:
    run: python3 manage.py runserver 127.0.0.1:$PORT --noreload
    release: python3 manage.py migrate --noinput
    env: { VERSION: "${version}", BERTH_TEST_HOME: "${home.home}" }
    routes: [notes.test]
`;

/** A migration after `after`: RunPython with `body` (indented for a function of `apps, schema_editor`). */
const migration = (after: string, body: string) => `import os
from django.db import migrations


def forward(apps, schema_editor):
${body}


class Migration(migrations.Migration):
    dependencies = [("notes", "${after}")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
`;

interface Releases {
  releases: Array<{ number: number; current: boolean }>;
  deployments: Array<{ status: string; error: string | null }>;
}
interface Deploy {
  status: string;
  release: number | null;
  error?: string;
  steps: Array<{ name: string; status: string; detail?: string }>;
}

test('a Django migration runs as the release hook: table there before the app starts; a failing one changes nothing', async () => {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import django'], { stdio: 'ignore' });
  } catch {
    assert.fail("Django is missing for /usr/bin/python3: install Debian's python3-django (scripts/setup.sh does)");
  }
  const dir = path.join(home.root, 'apps', 'notes');
  cpSync(DJANGO, dir, { recursive: true });
  writeFileSync(path.join(dir, 'berth.yaml'), djangoManifest(1));
  const first = await home.json<Deploy>('deploy', dir);
  assert.equal(first.status, 'succeeded', JSON.stringify(first));
  const names = first.steps.map((s) => s.name);
  const hookAt = names.indexOf('run release hook of web');
  assert.ok(hookAt > names.indexOf('record release 1') && hookAt < names.indexOf('start wave 1: web'), names.join());
  assert.equal(first.steps[hookAt]?.status, 'done');
  const db = path.join(home.home, 'data', 'notes', 'production', 'db.sqlite3');
  const tables = () =>
    new Database(db, { readonly: true })
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((r) => (r as { name: string }).name);
  assert.ok(tables().includes('notes_note'), `the migration made the table: ${tables().join()}`);
  if (ROOT) assert.equal(statSync(db).uid, findUser('berth-notes')?.uid, "the hook ran as the app's user");
  const served = await hit(P, 'notes.test', '/');
  assert.equal(served.status, 200, served.text());
  assert.deepEqual(served.json(), { version: '1', notes: [] });

  // The hook gets the app's secrets (redacted in the build log) and no $PORT.
  const set = await home.run(['secrets', 'set', 'notes', 'HOOK_TOKEN'], { input: 'tok-7d1e\n' });
  assert.equal(set.code, 0, set.stderr);
  writeFileSync(
    path.join(dir, 'notes', 'migrations', '0002_seed.py'),
    migration(
      '0001_initial',
      `    print("token is " + os.environ["HOOK_TOKEN"] + ", port is " + str(os.environ.get("PORT")), flush=True)
    apps.get_model("notes", "Note").objects.create(text=os.environ["HOOK_TOKEN"])`,
    ),
  );
  writeFileSync(path.join(dir, 'berth.yaml'), djangoManifest(2));
  const second = await home.json<Deploy>('deploy', dir);
  assert.equal(second.status, 'succeeded', JSON.stringify(second));
  assert.deepEqual((await hit(P, 'notes.test', '/')).json(), { version: '2', notes: ['tok-7d1e'] });
  const log = await home.cli('logs', 'notes', '--build', '--release', '2');
  assert.match(log.stdout, /Applying notes\.0002_seed/);
  assert.match(log.stdout, /token is \[redacted\], port is None/);
  assert.doesNotMatch(log.stdout, /tok-7d1e/);

  // A migration that fails: the deploy fails with its last lines, release 2 keeps serving, nothing of 3 started.
  writeFileSync(
    path.join(dir, 'notes', 'migrations', '0003_broken.py'),
    migration('0002_seed', '    raise RuntimeError("0003 refuses: notes need a title")'),
  );
  writeFileSync(path.join(dir, 'berth.yaml'), djangoManifest(3));
  const failed = await home.cli('deploy', dir, '--json');
  assert.equal(failed.code, 1, failed.stdout);
  const result = JSON.parse(failed.stdout) as Deploy;
  assert.equal(result.status, 'failed');
  assert.match(
    result.error ?? '',
    /release hook of web failed: `python3 manage\.py migrate --noinput` exited with code 1/,
  );
  assert.match(result.error ?? '', /RuntimeError: 0003 refuses: notes need a title/, 'the last lines of its output');
  assert.equal(result.steps.find((s) => s.name === 'run release hook of web')?.status, 'failed');
  assert.ok(result.steps.filter((s) => s.name.startsWith('start wave')).every((s) => s.status === 'pending'));
  assert.deepEqual((await hit(P, 'notes.test', '/')).json(), { version: '2', notes: ['tok-7d1e'] });
  const list = await home.json<Releases>('releases', 'notes');
  assert.equal(list.releases.find((r) => r.current)?.number, 2);
  const ps = await home.json<Array<{ release: number }>>('ps', 'notes');
  assert.deepEqual(
    ps.map((v) => v.release),
    [2],
  );
});

const cutManifest = (release: string) => `app: hookcut
services:
  web:
    run: ["${NODE}", "${path.join(REPO, 'test', 'fixtures', 'server.mjs')}"]
    release: ${JSON.stringify(release)}
    env: { VERSION: "${release.includes('sleep') ? 2 : 1}", BERTH_TEST_HOME: "${home.home}" }
    routes: [hookcut.test]
`;

/** Live processes of a release hook of this home (its mark, inherited by its children). */
function hookProcesses(): number[] {
  return listPids().filter((pid) => {
    const st = procStat(pid);
    return (
      st !== undefined &&
      st.state !== 'Z' &&
      procEnvValue(pid, 'BERTH_TEST_HOME') === home.home &&
      (procEnvValue(pid, 'BERTH_INSTANCE') ?? '').startsWith('release-hook:')
    );
  });
}

test('berthd killed during a release hook: the deploy is undone, the hook stopped and not run again, and it says so', async () => {
  const runs = path.join(home.home, 'data', 'hookcut', 'production', 'hook-runs');
  const dir = home.app('hookcut', cutManifest('echo run >> "$DATA_DIR/hook-runs"'));
  assertOk(await home.cli('deploy', dir));
  assert.equal(readFileSync(runs, 'utf8'), 'run\n');
  writeFileSync(path.join(dir, 'berth.yaml'), cutManifest('echo run >> "$DATA_DIR/hook-runs"; sleep 300; echo done'));
  const daemon = home.daemonPid() as number;
  const deploying = home.cli('deploy', dir);
  await waitFor(
    'the slow hook to run',
    () => readFileSync(runs, 'utf8') === 'run\nrun\n' && hookProcesses().length > 0,
  );
  process.kill(daemon, 'SIGKILL');
  assert.notEqual((await deploying).code, 0, 'the deploy was cut off');
  await waitFor('berthd to be dead', () => !isAlive(daemon) || procStat(daemon)?.state === 'Z');
  assertOk(await home.cli('daemon', 'start'));
  const list = await home.json<Releases>('releases', 'hookcut');
  const last = list.deployments[0];
  assert.equal(last?.status, 'interrupted', JSON.stringify(last));
  assert.match(
    last.error ?? '',
    /berthd stopped during "run release hook of web"; undone after restart; the release hook of web was running .*what was left of it was stopped, and it is not run again/,
  );
  assert.doesNotMatch(last.error ?? '', /additionally/);
  assert.deepEqual(hookProcesses(), [], 'what was left of the hook was stopped');
  assert.equal(list.releases.find((r) => r.current)?.number, 1);
  assert.equal((await hit(P, 'hookcut.test', '/env')).json().VERSION, '1', 'release 1 still serves');
  assert.equal(readFileSync(runs, 'utf8'), 'run\nrun\n', 'the hook was not run again by the recovery');
});
