import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { checkImported } from '../src/import/import-check.js';
import { REPO, TestHome } from './helpers/home.js';

/**
 * `berth import pm2|systemd|procfile|nginx|caddy` through the real CLI, on golden files made from the
 * seeds' own snippets (test/fixtures/imports): seed 000's PM2 list (a real `pm2 jlist` of PM2 7
 * running seed 000's processes, the shell's variables trimmed) and nginx blocks, seed 001's nginx
 * template and host uvicorn unit, seed 002's `site@.service` and Caddyfile block, seed 004's PM2 configuration. Each
 * golden `<case>.expected` is what stdout must be. `UPDATE_GOLDEN=1` rewrites them (review the diff).
 */
const home = new TestHome('28500-28599');
const work = mkdtempSync(path.join(tmpdir(), 'berth-imports-'));
after(() => {
  rmSync(home.root, { recursive: true, force: true }); // the imports are local: no berthd was started
  rmSync(work, { recursive: true, force: true });
});
const DIR = path.join(REPO, 'test', 'fixtures', 'imports');
cpSync(DIR, work, { recursive: true });
// seed 002's template names its env file by absolute path: here, the copy's.
const unit = path.join(work, 'site@.service');
writeFileSync(unit, readFileSync(unit, 'utf8').replace('@DIR@', work));

async function golden(name: string, ...args: string[]): Promise<string> {
  const r = await home.cli('import', ...args);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.replaceAll(work, '@DIR@');
  const file = path.join(DIR, `${name}.expected`);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, out);
  assert.equal(out, readFileSync(file, 'utf8'));
  return out;
}

/** Every berth.yaml printed passes Berth's own manifest validation. */
function valid(out: string): void {
  const docs = parseAllDocuments(out).map(
    (d) => d.toJS() as { app: string; services: Record<string, Record<string, unknown>> },
  );
  assert.ok(docs.length > 0);
  for (const doc of docs) assert.deepEqual(checkImported(doc).problems, [], doc.app);
}

test('seed 000 PM2 list: one app for the frontend and backend beside it, ports kept, the dead backend and the secret named', async () => {
  const out = await golden('seed000-pm2', 'pm2', path.join(work, 'seed000-pm2-jlist.json'));
  valid(out);
  assert.match(out, /pm2 auto-author-backend: was stopped in the old tool/);
  assert.doesNotMatch(out, /hunter2/, 'a secret value is never printed');
  assert.match(out, /berth secrets set strapi DATABASE_PASSWORD/);
});

test('seed 000 nginx blocks --into the PM2 import: routes land on the services on those ports', async () => {
  const into = path.join(work, 'apps');
  const w = await home.cli('import', 'pm2', path.join(work, 'seed000-pm2-jlist.json'), '--write', into);
  assert.equal(w.code, 0, w.stderr);
  await golden('seed000-nginx-into', 'nginx', path.join(work, 'seed000-nginx.conf'), '--into', into);
  const read = (app: string) => readFileSync(path.join(into, app, 'berth.yaml'), 'utf8');
  const files = `${read('auto-author')}---\n${read('strapi')}---\n${read('frankbria-nextjs')}`.replaceAll(
    work,
    '@DIR@',
  );
  valid(files);
  const goldenFile = path.join(DIR, 'seed000-nginx-into.berth.yaml');
  if (process.env.UPDATE_GOLDEN) writeFileSync(goldenFile, files);
  assert.equal(files, readFileSync(goldenFile, 'utf8'));
  // Again: an existing berth.yaml is never replaced without --force.
  const again = await home.cli('import', 'pm2', path.join(work, 'seed000-pm2-jlist.json'), '--write', into);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /exists already/);
});

test("seed 001's nginx template: upstreams resolved, /api/ stripped, the https redirect and certificates named", async () => {
  await golden('seed001-nginx', 'nginx', path.join(work, 'seed001-nginx.conf'));
});

test("seed 004's PM2 configuration: the venv, the database file in the app's directory, the dev copy", async () => {
  valid(await golden('seed004-pm2', 'pm2', path.join(work, 'seed004-ecosystem.config.cjs')));
});

test("systemd: seed 001's host uvicorn unit and seed 002's template instance with its env file", async () => {
  const out = await golden(
    'systemd',
    'systemd',
    path.join(work, 'site@example.service'),
    path.join(work, 'forgetrace-backend.service'),
  );
  valid(out);
  assert.doesNotMatch(out, /not-in-yaml/, 'a secret value is never printed');
});

test('Procfile: web gets the port, other types are workers, release is the release hook', async () => {
  valid(await golden('procfile', 'procfile', path.join(work, 'Procfile'), '--app', 'notes'));
});

test('bad input: a missing file, a bad --app, pm2 without a file', async () => {
  const missing = await home.cli('import', 'pm2', path.join(work, 'nope.config.js'));
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /cannot read .*nope\.config\.js: no such file/);
  const bad = await home.cli('import', 'systemd', path.join(work, 'forgetrace-backend.service'), '--app', 'Bad_Name');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--app "Bad_Name"/);
  const none = await home.cli('import', 'pm2');
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /give an ecosystem file or --running/);
});

test("seed 002's Caddyfile snippet --into the systemd import of site@.service: the route lands on port 3333's service", async () => {
  const into = path.join(work, 'caddy-apps');
  const w = await home.cli('import', 'systemd', path.join(work, 'site@example.service'), '--write', into);
  assert.equal(w.code, 0, w.stderr);
  await golden('seed002-caddy-into', 'caddy', path.join(work, 'seed002.Caddyfile'), '--into', into);
  const yaml = readFileSync(path.join(into, 'example', 'berth.yaml'), 'utf8');
  valid(yaml);
  assert.match(yaml, /port: 3333\n(?:.*\n)*?\s+routes:\n\s+- example\.alive\.best\n/);
});

test('Caddyfile: handle_path strips, handle/route/named matchers give paths, tls internal and http:// sites, the rest by file:line', async () => {
  const file = path.join(work, 'sites.Caddyfile');
  const out = await golden('caddy-sites', 'caddy', file);
  // The fixture is a Caddyfile Caddy itself accepts: every host and upstream port found is in `caddy adapt`'s JSON.
  const adapt = spawnSync('caddy', ['adapt', '--config', file, '--adapter', 'caddyfile'], { encoding: 'utf8' });
  assert.equal(adapt.status, 0, adapt.stderr);
  const json = adapt.stdout;
  for (const m of out.matchAll(/(?:host: |- )([a-z0-9.-]+\.[a-z]+)(?:\/|\n)/g))
    assert.ok(json.includes(`"${m[1]}"`), m[1]);
  for (const m of out.matchAll(/^"(\d+)":$/gm)) assert.ok(json.includes(`:${m[1]}"`), m[1]);
});

/** PM2's CLI for the --running test: BERTH_TEST_PM2, else bench/.pm2's (scripts/test.sh installs it from npm). */
function pm2(): string {
  const bin = process.env.BERTH_TEST_PM2 ?? path.join(REPO, 'bench', '.pm2', 'node_modules', '.bin', 'pm2');
  assert.ok(existsSync(bin), `no PM2 at ${bin}: npm install --prefix bench/.pm2 pm2@7 (scripts/test.sh does)`);
  return bin;
}

test('pm2 --running reads the live PM2: two processes of one app, their ports and directories', async () => {
  const bin = pm2();
  const pm2Home = path.join(work, 'pm2-home');
  const env = { ...home.env, PM2_HOME: pm2Home, PATH: `${path.dirname(bin)}:${process.env.PATH ?? ''}` };
  const server = 'require("http").createServer((q, s) => s.end("ok")).listen(+process.env.PORT, "127.0.0.1");\n';
  const start = (name: string, port: number) => {
    const dir = path.join(work, 'live', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'server.js'), server);
    const r = spawnSync(bin, ['start', path.join(dir, 'server.js'), '--name', `live-${name}`, '--cwd', dir], {
      env: { ...env, PORT: String(port) },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
  };
  try {
    start('web', 29150);
    start('api', 29151);
    const r = await home.run(['import', 'pm2', '--running'], { env });
    assert.equal(r.code, 0, r.stderr);
    valid(r.stdout);
    assert.match(r.stdout, /^app: live$/m, 'live-web and live-api beside each other are one app');
    assert.match(r.stdout, /^ {2}web:\n {4}run: node server\.js\n {4}cwd: web\n {4}port: 29150$/m);
    assert.match(r.stdout, /^ {2}api:\n {4}run: node server\.js\n {4}cwd: api\n {4}port: 29151$/m);
    assert.match(r.stdout, /made by `berth import pm2` from the running PM2 \(pm2 jlist\)/);
  } finally {
    spawnSync(bin, ['kill'], { env, encoding: 'utf8' });
  }
});
