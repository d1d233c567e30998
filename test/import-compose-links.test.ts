import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { TestHome } from './helpers/home.js';

/**
 * What `berth import compose` reads and writes besides the compose file: env files and `.env`
 * only inside the compose file's directory and never through a link; `--out` never written
 * through a link.
 */
const home = new TestHome('29800-29899');
after(() => rmSync(home.root, { recursive: true, force: true })); // the import is local: no berthd was started

const outside = path.join(home.root, 'outside');
mkdirSync(outside, { recursive: true });
writeFileSync(path.join(outside, 'stolen.env'), 'STOLEN=outside-value\n');
writeFileSync(path.join(outside, 'vars.env'), 'IMAGE_TAG=from-outside\n');

const COMPOSE = `services:
  web:
    image: registry.example.com/web:\${IMAGE_TAG:-default-tag}
    expose: ["8080"]
    env_file:
      - ./real.env
      - ./linked.env
      - ./linked-dir/stolen.env
      - ${path.join(outside, 'stolen.env')}
`;

test('env files and .env through a link, or outside the directory, are refused and not read', async () => {
  const dir = home.app('links', 'app: x\n', { 'docker-compose.yml': COMPOSE, 'real.env': 'REAL=inside-value\n' });
  symlinkSync(path.join(outside, 'stolen.env'), path.join(dir, 'linked.env'));
  symlinkSync(outside, path.join(dir, 'linked-dir'));
  symlinkSync(path.join(outside, 'vars.env'), path.join(dir, '.env'));
  const r = await home.cli('import', 'compose', path.join(dir, 'docker-compose.yml'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /REAL: inside-value/);
  assert.match(r.stdout, /image: registry\.example\.com\/web:default-tag/);
  assert.doesNotMatch(r.stdout + r.stderr, /outside-value|from-outside/);
  const lines = r.stderr.split('\n');
  assert.ok(lines.includes('.env: not mapped: .env: .env is a link; links are not followed'), r.stderr);
  assert.ok(
    lines.includes('services.web.env_file[1]: not mapped: ./linked.env: linked.env is a link; links are not followed'),
    r.stderr,
  );
  assert.ok(
    lines.includes(
      'services.web.env_file[2]: not mapped: ./linked-dir/stolen.env: linked-dir is a link; links are not followed',
    ),
    r.stderr,
  );
  assert.ok(
    lines.some((l) => /^services\.web\.env_file\[3\]: not mapped: .* is outside the compose file's directory/.test(l)),
    r.stderr,
  );
});

test('--out is never written through a link: refused without --force, the link itself replaced with it', async () => {
  const dir = home.app('out', 'app: x\n', { 'docker-compose.yml': 'services:\n  web:\n    image: example/web\n' });
  const target = path.join(outside, 'precious.yaml');
  writeFileSync(target, 'precious\n');
  const out = path.join(dir, 'berth.yaml.new');
  symlinkSync(target, out);
  const refused = await home.cli('import', 'compose', path.join(dir, 'docker-compose.yml'), '--out', out);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /exists already/);
  const forced = await home.cli('import', 'compose', path.join(dir, 'docker-compose.yml'), '--out', out, '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(readFileSync(target, 'utf8'), 'precious\n');
  assert.ok(lstatSync(out).isFile(), 'the link was replaced by the file');
  assert.match(readFileSync(out, 'utf8'), /image: example\/web/);
  const dangling = path.join(dir, 'dangling.yaml');
  symlinkSync(path.join(outside, 'made-through-link.yaml'), dangling);
  const r = await home.cli('import', 'compose', path.join(dir, 'docker-compose.yml'), '--out', dangling);
  assert.equal(r.code, 1);
  assert.throws(() => lstatSync(path.join(outside, 'made-through-link.yaml')), /ENOENT/);
});
