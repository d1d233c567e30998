import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/api/client.js';
import { isAlive } from './helpers/http.js';
import { assertOk, BIN, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * `berth run`: a Django management command (Debian's python3-django) in the current release,
 * with the service's env, secrets and $DATA_DIR; output streamed, the exit code passed on; the
 * API refuses viewers and records every run in the audit log.
 */
const home = new TestHome('30200-30299');
const API = 18302;
Object.assign(home.env, { BERTH_API_LISTEN: `127.0.0.1:${API}` });
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const SECRET = 'tok-5e3f9a7c41d2';

const DJANGO = {
  'manage.py': `import os, sys
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site_cfg.settings')
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
`,
  'site_cfg/__init__.py': '',
  'site_cfg/urls.py': 'urlpatterns = []\n',
  'site_cfg/settings.py': `import os
SECRET_KEY = 'not-a-secret-for-tests'
ALLOWED_HOSTS = ['*']
INSTALLED_APPS = ['shop']
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': os.path.join(os.environ['DATA_DIR'], 'db.sqlite3')}}
ROOT_URLCONF = 'site_cfg.urls'
USE_TZ = True
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
`,
  'shop/__init__.py': '',
  'shop/management/__init__.py': '',
  'shop/management/commands/__init__.py': '',
  'shop/management/commands/whereami.py': `import os
from django.core.management.base import BaseCommand
class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument('--fail', action='store_true')
    def handle(self, *args, **opts):
        if opts['fail']:
            self.stderr.write('whereami: the database is not reachable')
            raise SystemExit(3)
        self.stdout.write('cwd=%s data=%s greeting=%s port=%s token=%s len=%d' % (os.getcwd(), os.environ['DATA_DIR'],
            os.environ['GREETING'], os.environ.get('PORT', '-'), os.environ['API_TOKEN'], len(os.environ['API_TOKEN'])))
`,
};

const MANIFEST = `app: shop
services:
  web:
    run: ["${NODE}", "${SERVER}"]
    env: { GREETING: hello-from-web }
  docs:
    static: site
`;

const socket = () => new ApiClient(path.join(home.home, 'berthd.sock'));

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  assertOk(await home.cli('deploy', home.app('shop', MANIFEST, { ...DJANGO, 'site/index.html': 'docs' })));
  assertOk(await home.run(['secrets', 'set', 'shop', 'API_TOKEN'], { input: SECRET }));
});
after(() => home.cleanup());

test('a Django management command runs in the current release with the service env, secrets and $DATA_DIR', async () => {
  const r = await home.cli('run', 'shop', '--', 'python3', 'manage.py', 'whereami');
  assertOk(r);
  const release = path.join(home.home, 'releases', 'shop', 'production', '1');
  const data = path.join(home.home, 'data', 'shop', 'production');
  assert.match(r.stdout, new RegExp(`cwd=${release} data=${data} greeting=hello-from-web port=- `));
  assert.match(
    r.stdout,
    new RegExp(`token=\\[redacted\\] len=${SECRET.length}`),
    'the secret is there, and never shown',
  );
  assert.ok(!r.stdout.includes(SECRET));
  const check = await home.cli('run', 'shop', '--service', 'web', '--', 'python3', 'manage.py', 'check');
  assertOk(check);
  assert.match(check.stdout, /System check identified no issues/);
});

test('a failing command: its stderr streamed, its exit code passed through', async () => {
  const r = await home.cli('run', 'shop', '--', 'python3', 'manage.py', 'whereami', '--fail');
  assert.equal(r.code, 3);
  assert.match(r.stderr, /whereami: the database is not reachable/);
  assert.equal(r.stdout, '');
  const unknown = await home.cli('run', 'shop', '--', 'python3', 'manage.py', 'no-such-command');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /Unknown command: 'no-such-command'/);
  const missing = await home.cli('run', 'shop', '--', 'no-such-program');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot run "no-such-program" in shop\/web/);
});

test('output arrives as the command prints it, before it ends', async () => {
  const go = path.join(home.home, 'data', 'shop', 'production', 'go');
  const script = 'echo first; while [ ! -e "$DATA_DIR/go" ]; do sleep 0.05; done; echo second >&2';
  const child = spawn(process.execPath, [BIN, 'run', 'shop', '--', 'sh', '-c', script], { env: home.env });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = new Promise<number | null>((resolve) => child.once('close', resolve));
  await waitFor('the first line while the command still runs', () => out.includes('first\n'));
  assert.equal(err, '');
  writeFileSync(go, '');
  assert.equal(await code, 0);
  assert.equal(err, 'second\n');
});

test('the command ends when the CLI goes away (Ctrl-C)', async () => {
  const pidFile = path.join(home.home, 'data', 'shop', 'production', 'sleeper.pid');
  const child = spawn(
    process.execPath,
    [BIN, 'run', 'shop', '--', 'sh', '-c', 'echo $$ > "$DATA_DIR/sleeper.pid"; exec sleep 60'],
    { env: home.env, stdio: 'ignore' },
  );
  const pid = await waitFor('the command running', () => {
    try {
      return Number(readFileSync(pidFile, 'utf8')) || undefined;
    } catch {
      return undefined;
    }
  });
  assert.ok(isAlive(pid));
  child.kill('SIGINT');
  await waitFor('the command gone', () => !isAlive(pid));
});

test('refused: an unknown service (with a suggestion), a static one, an app without a current release', async () => {
  const typo = await home.cli('run', 'shop', '--service', 'wev', '--', 'true');
  assert.equal(typo.code, 1);
  assert.match(typo.stderr, /app "shop" has no service "wev"/);
  assert.match(typo.stderr, /did you mean "web"\?/);
  const stat = await home.cli('run', 'shop', '--service', 'docs', '--', 'true');
  assert.match(stat.stderr, /service "docs" of shop is static/);
  const env = await home.cli('run', 'shop', '--env', 'staging', '--', 'true');
  assert.match(env.stderr, /app "shop" has no environment "staging"/);
  // A first deploy that is still starting: the app exists, its release is not current yet.
  const slow = home.app(
    'slow',
    `app: slow\nservices:\n  web:\n    run: ["sh", "-c", "sleep 4; exec ${NODE} ${SERVER}"]\n`,
  );
  const deploying = home.cli('deploy', slow);
  const refused = await waitFor('a refusal for want of a current release', async () => {
    const r = await home.cli('run', 'slow', '--', 'true');
    return /has no current release/.test(r.stderr) ? r : undefined;
  });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /slow \(production\) has no current release/);
  assertOk(await deploying);
  assertOk(await home.cli('run', 'slow', '--', 'true'));
});

test('over the API: members run commands, viewers are refused; every run is in the audit log', async () => {
  const s = socket();
  await s.call('POST', '/v1/orgs', { name: 'acme' });
  const password = 'correct horse battery staple';
  for (const role of ['viewer', 'member'] as const)
    await s.call('POST', '/v1/admin/users', { name: role, password, org: 'acme', role });
  const mine = home.app('mine', `app: mine\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n`);
  assertOk(await home.cli('deploy', mine, '--org', 'acme'));
  const token = async (name: string) => {
    const res = await fetch(`http://127.0.0.1:${API}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password }),
    });
    return ((await res.json()) as { token: string }).token;
  };
  const run = async (who: string, argv: string[]) =>
    fetch(`http://127.0.0.1:${API}/v1/apps/mine/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(who)}` },
      body: JSON.stringify({ argv }),
    });
  const viewer = await run('viewer', ['sh', '-c', 'echo ran > "$DATA_DIR/by-viewer"']);
  assert.equal(viewer.status, 403);
  const member = await run('member', ['sh', '-c', 'echo out; echo err >&2; exit 7']);
  assert.equal(member.status, 200);
  const frames = (await member.text())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(frames, [{ stdout: 'out\n' }, { stderr: 'err\n' }, { exit: { code: 7, signal: null } }]);
  const audit = await waitFor('the audit records', async () => {
    const rows = await s.call<Array<{ actor: string; action: string; target: string; outcome: string }>>(
      'GET',
      '/v1/audit',
    );
    const runs = rows.filter((a) => a.action === 'POST /v1/apps/:app/run');
    return runs.length >= 2 ? runs : undefined;
  });
  const byMember = audit.find((a) => a.actor === 'user:member');
  assert.match(
    byMember?.target ?? '',
    /^app=mine env=production service=- argv=\["sh","-c","echo out; echo err >&2; exit 7"\]$/,
  );
  assert.equal(byMember?.outcome, '200 exit 7');
  assert.equal(audit.find((a) => a.actor === 'user:viewer')?.outcome, '403');
});
