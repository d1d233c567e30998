import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { checkImported } from '../src/import/import-check.js';
import { REPO, TestHome } from './helpers/home.js';

/**
 * `berth import compose` through the real CLI, on golden files: each directory of
 * test/fixtures/compose holds a docker-compose.yml (and the files it reads), the berth.yaml the
 * import must print (expected.berth.yaml) and the warnings it must list on stderr
 * (expected.warnings). `UPDATE_GOLDEN=1` rewrites the expected files (review the diff).
 */
const home = new TestHome('31600-31649');
after(() => rmSync(home.root, { recursive: true, force: true })); // the import is local: no berthd was started

const DIR = path.join(REPO, 'test', 'fixtures', 'compose');
const fixtures = readdirSync(DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

interface Imported {
  app: string;
  services: Record<string, Record<string, unknown>>;
}

test('the golden fixtures are there: a seed 003-like platform, a seed 000-like stack, the forms, published ports', () => {
  assert.deepEqual(fixtures, ['forms', 'platform', 'published', 'sprintforge']);
});

for (const name of fixtures) {
  test(`golden ${name}: the berth.yaml on stdout and every warning on stderr`, async () => {
    const r = await home.cli('import', 'compose', path.join(DIR, name, 'docker-compose.yml'));
    assert.equal(r.code, 0, r.stderr);
    const yamlFile = path.join(DIR, name, 'expected.berth.yaml');
    const warningsFile = path.join(DIR, name, 'expected.warnings');
    if (process.env.UPDATE_GOLDEN) {
      writeFileSync(yamlFile, r.stdout);
      writeFileSync(warningsFile, r.stderr);
      return;
    }
    assert.equal(r.stdout, readFileSync(yamlFile, 'utf8'));
    assert.equal(r.stderr, readFileSync(warningsFile, 'utf8'));
  });

  test(`golden ${name}: the imported berth.yaml passes Berth's own manifest validation`, async () => {
    const r = await home.cli('import', 'compose', path.join(DIR, name, 'docker-compose.yml'));
    const check = checkImported(parse(r.stdout) as Imported);
    assert.deepEqual(check.problems, []);
    assert.doesNotMatch(r.stderr, /does not pass/);
  });
}

test('the seed 003-like file: ten services, one image and nine builds, health gates and routes', async () => {
  const r = await home.cli('import', 'compose', path.join(DIR, 'platform', 'docker-compose.yml'));
  const m = parse(r.stdout) as Imported;
  const services = Object.values(m.services);
  assert.equal(services.length, 10);
  assert.equal(services.filter((s) => s.image !== undefined).length, 1);
  assert.equal(services.filter((s) => typeof s.build === 'object').length, 9);
  assert.deepEqual(
    services.map((s) => s.container_port),
    [8000, 8001, 8002, 8003, 8004, 8005, 8006, 8007, 8008, 8009],
  );
  assert.deepEqual(m.services['saleor-api']?.health, {
    http: '/health/',
    interval: '30s',
    start_timeout: '40s',
    unhealthy_threshold: 3,
  });
  // Every pinned host port is said to be replaced by a lease; no secret value reaches a warning.
  assert.equal(r.stderr.match(/host port \d+ is not kept/g)?.length, 10);
  assert.doesNotMatch(r.stderr, /example-not-a-real-key|change-me/);
});

test('the seed 000-like stack: a service_healthy dependency gets a health gate; named volumes stay volumes', async () => {
  const r = await home.cli('import', 'compose', path.join(DIR, 'sprintforge', 'docker-compose.yml'));
  const m = parse(r.stdout) as Imported;
  assert.equal(m.app, 'sprintforge-staging');
  assert.deepEqual(Object.keys(m.services), ['db', 'redis', 'backend']);
  assert.deepEqual(m.services.backend?.depends_on, ['db', 'redis']);
  assert.deepEqual(m.services.db?.health, { tcp: true, interval: '10s', unhealthy_threshold: 5 });
  assert.deepEqual(m.services.db.volumes, { '/var/lib/postgresql/data': 'postgres-data' });
  assert.match(r.stderr, /^services\.db\.healthcheck\.test: not mapped: a command check \(pg_isready\)/m);
  assert.doesNotMatch(r.stderr, /example-password/);
});

test('--app names the app; an invalid one is refused with the rule; a file without services, or a directory, is an error', async () => {
  const file = path.join(DIR, 'sprintforge', 'docker-compose.yml');
  const named = await home.cli('import', 'compose', file, '--app', 'forge');
  assert.equal((parse(named.stdout) as Imported).app, 'forge');
  const bad = await home.cli('import', 'compose', file, '--app', 'Forge_1');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--app "Forge_1" contains an uppercase letter\n {2}hint: names are DNS labels/);
  const empty = home.app('empty', 'app: x\n', { 'docker-compose.yml': 'version: "3"\n' });
  const none = await home.cli('import', 'compose', path.join(empty, 'docker-compose.yml'));
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no services: mapping/);
  assert.equal(none.stdout, '');
  const dir = await home.cli('import', 'compose', empty);
  assert.equal(dir.code, 1);
  assert.match(dir.stderr, /empty is not a file\n {2}hint: give the path of a docker-compose\.yml/);
});

test('--out writes the file, never over an existing one without --force', async () => {
  const file = path.join(DIR, 'sprintforge', 'docker-compose.yml');
  const out = path.join(home.root, 'out.yaml');
  const first = await home.cli('import', 'compose', file, '--out', out);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, '');
  assert.match(first.stderr, /wrote .*out\.yaml \(10 warnings above\)\n$/);
  const printed = (await home.cli('import', 'compose', file)).stdout;
  assert.equal(readFileSync(out, 'utf8'), printed);
  writeFileSync(out, 'mine\n');
  const again = await home.cli('import', 'compose', file, '--out', out);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /out\.yaml exists already\n {2}hint: pass --force/);
  assert.equal(readFileSync(out, 'utf8'), 'mine\n');
  const forced = await home.cli('import', 'compose', file, '--out', out, '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(readFileSync(out, 'utf8'), printed);
});

test('--json: the berth.yaml and the warnings as data; a service_healthy dependency without a check gets a TCP gate', async () => {
  const r = await home.cli('import', 'compose', path.join(DIR, 'forms', 'docker-compose.yml'), '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    app: string;
    berthYaml: string;
    warnings: Array<{ path: string; message: string }>;
    written: null;
  };
  assert.equal(out.app, 'forms');
  assert.equal(out.written, null);
  const m = parse(out.berthYaml) as Imported;
  // cache's compose check is ["NONE"]; worker waits for it with condition: service_healthy.
  assert.deepEqual(m.services.cache?.health, { tcp: true });
  assert.deepEqual(m.services.worker?.depends_on, ['cache']);
  assert.ok(
    out.warnings.some(
      (w) => w.path === 'services.worker.depends_on.migrate.condition' && /^not mapped: /.test(w.message),
    ),
  );
});

test('a port published without Traefik labels gets a route on a local host; a published data store gets none, said so', async () => {
  const r = await home.cli('import', 'compose', path.join(DIR, 'published', 'docker-compose.yml'));
  assert.equal(r.code, 0, r.stderr);
  const m = parse(r.stdout) as Imported;
  // Several published services: <service>.<app>.localhost each, the loopback-only one too.
  assert.deepEqual(m.services.web?.routes, ['web.shopfront.localhost']);
  assert.deepEqual(m.services.admin?.routes, ['admin.shopfront.localhost']);
  assert.match(r.stdout, /# web\.shopfront\.localhost answers on this machine only: put your domain here/);
  assert.match(r.stderr, /^services\.web\.ports: published outside its network: .* route web\.shopfront\.localhost/m);
  assert.equal(m.services.db?.routes, undefined);
  assert.match(r.stderr, /^services\.db\.ports: .*does not speak HTTP.*pin it on 127\.0\.0\.1 with port: 5432$/m);
  // The only published service gets <app>.localhost; unless a Traefik label already routes that host.
  const solo = home.app('solo', 'app: x\n', {
    'docker-compose.yml': 'services:\n  web: { image: "nginx:1", ports: ["8080:80"] }\n  jobs: { image: "w:1" }\n',
  });
  const one = parse((await home.cli('import', 'compose', path.join(solo, 'docker-compose.yml'))).stdout) as Imported;
  assert.deepEqual(one.services.web?.routes, ['solo.localhost']);
  assert.equal(one.services.jobs?.routes, undefined, 'a service that publishes nothing gets no route');
  const duo = home.app('duo', 'app: x\n', {
    'docker-compose.yml': [
      'services:',
      '  api: { image: "a:1", ports: ["8000:8000"], labels: ["traefik.http.routers.a.rule=Host(`duo.localhost`)"] }',
      '  web: { image: "w:1", ports: ["3000"] }',
      '',
    ].join('\n'),
  });
  const two = parse((await home.cli('import', 'compose', path.join(duo, 'docker-compose.yml'))).stdout) as Imported;
  assert.deepEqual(two.services.api?.routes, ['duo.localhost'], "the label's route is kept as it is");
  assert.deepEqual(two.services.web?.routes, ['web.duo.localhost']);
});
