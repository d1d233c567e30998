import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { checkImported } from '../src/import/import-check.js';
import { hit } from './helpers/http.js';
import { assertOk, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * `berth init` through the real CLI on one small app per kind (test/fixtures/init/<kind>/): the
 * berth.yaml it prints must be the golden test/fixtures/init/<kind>.expected.yaml
 * (`UPDATE_GOLDEN=1` rewrites them; review the diff) and pass Berth's own validation. The node,
 * static, Python (FastAPI, Flask, Django on Debian's packages), Vite (npm's cache in
 * .berth-npm-cache) and Procfile results are then written and deployed for real, and answer through
 * Berth's proxy on the route init gave them (the Next.js and Create React App results: test/init-next
 * and test/init-cra, builds of their own).
 */
const home = new TestHome('29000-29099');
const P = home.httpPort;
after(() => home.cleanup());
const FIXTURES = path.join(REPO, 'test', 'fixtures', 'init');
const KINDS = [
  'node',
  'static',
  'procfile',
  'fastapi',
  'next',
  'next-bare',
  'vite',
  'cra',
  'django',
  'flask',
  'dockerfile',
  'compose',
  'dockerfile-busybox',
  'compose-busybox',
];

/** A copy of a fixture, in a directory of the kind's name (init names the app after it when nothing else does). */
function copy(kind: string): string {
  const dir = path.join(home.root, 'apps', kind);
  cpSync(path.join(FIXTURES, kind), dir, { recursive: true });
  return dir;
}

test(`init recognises each kind (${KINDS.join(', ')}): the golden berth.yaml, valid for Berth`, async () => {
  // One CLI per kind, all at once: each is a short local read.
  await Promise.all(
    KINDS.map(async (kind) => {
      const dir = copy(kind);
      const r = await home.cli('init', dir, '--print');
      assert.equal(r.code, 0, `${kind}: ${r.stderr}`);
      assert.match(r.stderr, /berth init: found /, `${kind}: it says what it found`);
      assert.equal(existsSync(path.join(dir, 'berth.yaml')), false, `${kind}: --print writes nothing`);
      const file = path.join(FIXTURES, `${kind}.expected.yaml`);
      if (process.env.UPDATE_GOLDEN) writeFileSync(file, r.stdout);
      assert.equal(r.stdout, readFileSync(file, 'utf8'), kind);
      const manifest = parse(r.stdout) as Parameters<typeof checkImported>[0];
      assert.deepEqual(checkImported(manifest).problems, [], kind);
    }),
  );
});

test('init writes berth.yaml once: an existing one is never replaced', async () => {
  const dir = path.join(home.root, 'apps', 'twice');
  cpSync(path.join(FIXTURES, 'static'), dir, { recursive: true });
  const first = await home.cli('init', dir);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /wrote .*twice\/berth\.yaml/);
  const written = readFileSync(path.join(dir, 'berth.yaml'), 'utf8');
  assert.match(written, /^app: twice$/m);
  const again = await home.cli('init', dir);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /berth\.yaml exists already; berth init never replaces it/);
  assert.equal(readFileSync(path.join(dir, 'berth.yaml'), 'utf8'), written);
  const none = await home.cli('init', path.join(home.root, 'apps'));
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /found no app it recognises/);
});

test('init never follows a link out of the app directory', async () => {
  const outside = path.join(home.root, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(path.join(outside, 'routes.js'), "app.get('/healthz', ok);\n");
  writeFileSync(path.join(outside, 'package.json'), '{ "name": "stolen", "scripts": { "start": "node x.js" } }');
  const dir = path.join(home.root, 'apps', 'linked');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'server.js'), 'require("http").createServer().listen(process.env.PORT);\n');
  const pkg = '{ "name": "linked", "scripts": { "start": "node server.js" } }';
  writeFileSync(path.join(dir, 'package.json'), pkg);
  symlinkSync(outside, path.join(dir, 'lib'));
  symlinkSync(path.join(outside, 'routes.js'), path.join(dir, 'routes.js'));
  const r = await home.cli('init', dir, '--print');
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /healthz/, 'the route behind a link is not read');
  assert.match(r.stdout, /^app: linked$/m);
  assert.match(r.stdout, /lib is a link: init does not follow links/);
  assert.match(r.stdout, /routes\.js is a link/);
  // A package.json that is a link is not read either.
  rmSync(path.join(dir, 'package.json'));
  writeFileSync(path.join(dir, 'index.html'), '<h1>linked</h1>');
  symlinkSync(path.join(outside, 'package.json'), path.join(dir, 'package.json'));
  const r2 = await home.cli('init', dir, '--print');
  assert.equal(r2.code, 0, r2.stderr);
  assert.doesNotMatch(r2.stdout, /stolen|x\.js/);
  assert.match(r2.stdout, /static: \.$/m, 'init falls back to what is really in the directory');
  assert.match(r2.stdout, /package\.json is a link/);
});

// npm's cache for the Vite build, kept across runs (scripts/test.sh fills it, so npm ci needs no
// registry): the test's build finds it as the environment's npm cache.
const NPM_CACHE = path.join(REPO, '.berth-npm-cache');

/** What the test adds to init's berth.yaml under `web:`, as its "To check or do" notes ask of the user. */
function adjust(kind: string, dir: string, yaml: string): string {
  const web = (lines: string[]) => yaml.replace(/^ {2}web:$/m, `  web:\n${lines.map((l) => `    ${l}`).join('\n')}`);
  if (['fastapi', 'flask', 'django'].includes(kind)) {
    // No package index is reachable here: these run on Debian's python3 packages (scripts/setup.sh), as
    // init's note says (test/build-deps covers deps: auto with a local wheel).
    assert.match(yaml, /set deps: none to run on the host's python3 packages/, kind);
    if (kind === 'django') {
      assert.match(yaml, /add your route's host/);
      const settings = path.join(dir, 'mysite', 'settings.py');
      writeFileSync(
        settings,
        readFileSync(settings, 'utf8').replace('["127.0.0.1"]', '["127.0.0.1", "django.localhost"]'),
      );
    }
    return web(['deps: none']);
  }
  if (kind === 'vite') {
    // Berth keeps npm's cache per environment in its home for builds: here that is the cache kept across runs.
    const cache = path.join(home.home, 'homes', 'dashboard', 'production', '.npm');
    mkdirSync(path.dirname(cache), { recursive: true, mode: 0o700 });
    symlinkSync(NPM_CACHE, cache);
  }
  return yaml;
}

test('each result deploys: node, static, Python (FastAPI, Flask, Django), Vite and Procfile apps answer on their routes', async () => {
  assertOk(await home.cli('daemon', 'start'));
  const apps: { kind: string; host: string; path: string; body: RegExp }[] = [
    { kind: 'node', host: 'shop-api.localhost', path: '/', body: /^shop api \d+/ },
    { kind: 'static', host: 'static.localhost', path: '/', body: /static site from berth init/ },
    { kind: 'fastapi', host: 'notes-api.localhost', path: '/health', body: /^\{"ok":true\}$/ },
    { kind: 'flask', host: 'flask.localhost', path: '/healthz', body: /^ok$/ },
    { kind: 'django', host: 'django.localhost', path: '/admin/login/', body: /Log in \| Django site admin/ },
    {
      kind: 'vite',
      host: 'dashboard.localhost',
      path: '/some/client/route',
      body: /<script type="module" crossorigin src="\/assets\/index-/,
    },
    { kind: 'procfile', host: 'procfile.localhost', path: '/', body: /^procfile web/ },
  ];
  // They deploy at once (different apps): the test waits on their builds and health checks, not on each other.
  await Promise.all(
    apps.map(async (a) => {
      const dir = path.join(home.root, 'deploy', a.kind);
      cpSync(path.join(FIXTURES, a.kind), dir, { recursive: true });
      const init = await home.cli('init', dir);
      assert.equal(init.code, 0, init.stderr);
      const file = path.join(dir, 'berth.yaml');
      writeFileSync(file, adjust(a.kind, dir, readFileSync(file, 'utf8')));
      const t0 = Date.now();
      assertOk(await home.cli('up', dir), a.kind);
      console.log(`# ${a.kind}: berth up took ${Date.now() - t0} ms`);
    }),
  );
  for (const a of apps) {
    const r = await hit(P, a.host, a.path);
    assert.equal(r.status, 200, `${a.kind}: ${r.text()}`);
    assert.match(r.text(), a.body, a.kind);
  }
  // The Procfile's worker runs too, and its release hook ran; Django's migrations ran as its release hook.
  await waitFor(
    'the Procfile worker to log',
    async () => /worker tick/.test((await home.cli('logs', 'procfile')).stdout),
    20_000,
  );
  assert.match(
    readFileSync(path.join(home.home, 'logs', 'django', 'production', 'build-1.log'), 'utf8'),
    /Applying auth\.0001_initial\.\.\. OK/,
  );
});
