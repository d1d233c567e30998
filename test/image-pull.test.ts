import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { parseManifest, ManifestError } from '../src/config/manifest.js';
import type { Manifest } from '../src/config/manifest-types.js';
import { EngineError } from '../src/runtime/container-engine.js';
import { TestDockerd } from './helpers/dockerd.js';
import { hit } from './helpers/http.js';
import { assertOk, type CliResult, TestHome } from './helpers/home.js';
import { TestRegistry } from './helpers/registry.js';

/**
 * `image:` pulled through the engine from a real registry (Debian's docker-registry on 127.0.0.1,
 * htpasswd auth), with the login from the app's secrets; the digest recorded in the release and the
 * container run by the recorded id, so a rollback runs the same bytes after the tag moved.
 */
const home = new TestHome('32000-32089');
const P = home.httpPort;
const tmp = mkdtempSync(path.join(tmpdir(), 'berth-pull-'));
const dockerd = new TestDockerd(path.join(tmp, 'dockerd'));
const PASSWORD = `pull-pass-${process.pid}-9f3c2e71`;
const WRONG = `wrong-pass-${process.pid}-5b8d04aa`;
const registry = new TestRegistry(path.join(tmp, 'registry'), 32090, 'puller', PASSWORD);
const IMAGE = `${registry.address}/shop/web:latest`;
home.env.BERTH_CONTAINER_ENGINE = `unix://${dockerd.socket}`;

/** Everything `berth` printed here, searched for the credentials at the end. */
const printed: string[] = [];
async function berth(args: string[], input?: string): Promise<CliResult> {
  const r = await home.run(args, input === undefined ? {} : { input });
  printed.push(r.stdout, r.stderr);
  return r;
}

const AUTH = '    registry_auth: { username: puller, password_secret: REGISTRY_PASSWORD }\n';
const manifest = (image: string, auth = AUTH) => `app: shop
services:
  web:
    image: ${image}
${auth}    container_port: 8080
    health: { http: /health, start_timeout: 3s }
    drain: 1s
    stop_timeout: 1s
    routes: [shop.test]
`;
const deploy = (image: string, auth?: string) => berth(['deploy', home.app('shop', manifest(image, auth))]);
const serves = async () => (await hit(P, 'shop.test', '/')).text();

/** The id of what the engine has under a name, or undefined. */
async function imageId(name: string): Promise<string | undefined> {
  try {
    return (await dockerd.engine.call<{ Id: string }>('GET', `/images/${encodeURIComponent(name)}/json`)).Id;
  } catch (err) {
    if (err instanceof EngineError && err.status === 404) return undefined;
    throw err;
  }
}

/** Builds `IMAGE` serving `text` (with a health file unless told), pushes it, and forgets it here; its id. */
async function publish(text: string, health = true): Promise<string> {
  rmSync(path.join(dockerd.dir, `ctx-${IMAGE.replace(/[^a-z0-9]/gi, '-')}`, 'www', 'health'), { force: true });
  await dockerd.buildImage(IMAGE, { 'index.html': text, ...(health ? { health: 'ok\n' } : {}) });
  const id = (await imageId(IMAGE)) as string;
  await registry.push(dockerd.engine, IMAGE);
  await dockerd.engine.call('DELETE', `/images/${encodeURIComponent(IMAGE)}`);
  return id;
}

/** The image id the running container of shop was created from. */
async function running(): Promise<string[]> {
  const list = await dockerd.engine.call<{ Id: string; Labels: Record<string, string> }[]>('GET', '/containers/json');
  return Promise.all(
    list
      .filter((c) => c.Labels['berth.app'] === 'shop')
      .map(async (c) => (await dockerd.engine.call<{ Image: string }>('GET', `/containers/${c.Id}/json`)).Image),
  );
}

/** The container spec of web in each recorded release of shop, by release number. */
function recorded(): Map<number, { imageId?: string; digest?: string }> {
  const db = new Database(path.join(home.home, 'berth.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT number, manifest FROM releases').all() as { number: number; manifest: string }[];
    return new Map(rows.map((r) => [r.number, (JSON.parse(r.manifest) as Manifest).services[0]?.container ?? {}]));
  } finally {
    db.close();
  }
}

let v1 = '';
let v2 = '';

before(async () => {
  await dockerd.start();
  await registry.start();
  await dockerd.buildImage('berth-test/local:1', { 'index.html': 'local\n', health: 'ok\n' });
  v1 = await publish('v1\n');
  assertOk(await home.cli('daemon', 'start'));
});
after(async () => {
  try {
    await home.cleanup();
  } finally {
    registry.stop();
    await dockerd.remove();
  }
});

test('registry_auth and pull are checked in berth.yaml', () => {
  const problems = (body: string) => {
    try {
      parseManifest(`app: box\nservices:\n  web: { container_port: 80, ${body} }\n`, 'berth.yaml');
      return '';
    } catch (err) {
      assert.ok(err instanceof ManifestError, String(err));
      return err.message;
    }
  };
  assert.equal(problems('image: a/b, pull: missing, registry_auth: { username: u, password_secret: P }'), '');
  assert.match(problems('image: a/b, registry_auth: { password_secret: P }'), /one of `username`/);
  assert.match(problems('image: a/b, pull: sometimes'), /services\.web\.pull/);
  assert.match(problems('build: { context: . }, pull: always'), /`pull` applies to an `image:` that is pulled/);
  const [web] = parseManifest('app: box\nservices:\n  web: { image: a/b, container_port: 80 }\n', 'x').services;
  assert.equal(web?.container?.pull, 'always', ':latest (or no tag) is pulled at every deploy');
  const [pinned] = parseManifest('app: box\nservices:\n  web: { image: a/b:1.2, container_port: 80 }\n', 'x').services;
  assert.equal(pinned?.container?.pull, 'missing', 'another tag only when the engine lacks it');
});

test('a pull without its secret, refused or unreachable fails the deploy with what to do; nothing is left half done', async () => {
  assertOk(await deploy('berth-test/local:1', ''));
  assert.equal(await serves(), 'local\n');
  let r = await deploy(IMAGE);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /registry_auth\.password_secret names the secret REGISTRY_PASSWORD, which shop/);
  assert.match(r.stdout + r.stderr, /berth secrets set shop REGISTRY_PASSWORD/, r.stdout + r.stderr);
  assertOk(await berth(['secrets', 'set', 'shop', 'REGISTRY_PASSWORD'], WRONG));
  r = await deploy(IMAGE);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, new RegExp(`pulling image ${IMAGE}: .* refused the credentials of registry_auth`));
  r = await deploy(IMAGE, '');
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /refused an anonymous pull/);
  assert.match(r.stdout + r.stderr, /registry_auth: \{ username: USER, password_secret: SECRET \}/);
  r = await deploy('127.0.0.1:32098/shop/web:1', '');
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /the registry 127\.0\.0\.1:32098 cannot be reached/);
  // Nothing of these attempts stayed: no image, no release; the first one serves.
  assert.equal(await imageId(IMAGE), undefined);
  assert.deepEqual([...recorded().keys()], [1]);
  assert.equal(await serves(), 'local\n');
});

test('with the right login the image is pulled: progress in the build log, its digest recorded, its id run', async () => {
  assertOk(await berth(['secrets', 'set', 'shop', 'REGISTRY_PASSWORD'], PASSWORD));
  const r = await berth(['deploy', home.app('shop', manifest(IMAGE)), '--json']);
  assertOk(r);
  const release = (JSON.parse(r.stdout) as { release: number }).release;
  assert.equal(await serves(), 'v1\n');
  const spec = recorded().get(release);
  assert.ok(spec);
  assert.equal(spec.imageId, v1);
  assert.match(spec.digest ?? '', new RegExp(`^${registry.address}/shop/web@sha256:[0-9a-f]{64}$`));
  assert.deepEqual(await running(), [v1]);
  const log = (await berth(['logs', 'shop', '--build', '--release', String(release)])).stdout;
  assert.match(log, new RegExp(`pulling ${IMAGE} for web \\(pull: always\\)`));
  assert.match(log, /Pull complete/);
  assert.ok(log.includes(spec.digest ?? '-'), log);
  const missing = await deploy(`${registry.address}/shop/nope:1`);
  assert.match(missing.stdout + missing.stderr, /has no such image/);
});

test('a brand-new app pulls a private image on its first deploy; a failed first deploy keeps its secrets', async () => {
  const image = `${registry.address}/crate/web:1`;
  await dockerd.buildImage(image, { 'index.html': 'crate\n', health: 'ok\n' });
  await registry.push(dockerd.engine, image);
  await dockerd.engine.call('DELETE', `/images/${encodeURIComponent(image)}`);
  const first = (app: string, name: string) =>
    berth([
      'deploy',
      home.app(app, manifest(name).replace('app: shop', `app: ${app}`).replace('shop.test', `${app}.test`)),
    ]);
  // Secrets of an app never deployed register it, and its first deploy finds them.
  const set = await berth(['secrets', 'set', 'crate', 'REGISTRY_PASSWORD'], PASSWORD);
  assertOk(set);
  assert.match(set.stdout, /crate: registered \(never deployed\); secret REGISTRY_PASSWORD set/);
  assertOk(await first('crate', image));
  assert.equal((await hit(P, 'crate.test', '/')).text(), 'crate\n');
  // A first deploy the registry refuses leaves the app registered with its secrets, and nothing else.
  assertOk(await berth(['secrets', 'set', 'stray', 'REGISTRY_PASSWORD'], WRONG));
  const refused = await first('stray', IMAGE); // :latest: pulled at every deploy
  assert.match(refused.stdout + refused.stderr, /refused the credentials of registry_auth/);
  assert.match((await berth(['secrets', 'ls', 'stray'])).stdout, /REGISTRY_PASSWORD/);
  assert.deepEqual(JSON.parse((await berth(['env', 'ls', 'stray', '--json'])).stdout), [], 'no environment is left');
  assert.ok(!existsSync(path.join(home.home, 'data', 'stray')), 'nothing else of the attempt is left');
  const again = await berth(['deploy', '--app', 'stray']);
  assert.match(again.stderr, /stray is registered \(its secrets\) but was never deployed/);
  assertOk(await berth(['rm', 'stray']));
  assert.match((await berth(['secrets', 'ls', 'stray'])).stderr, /no app named "stray"/);
  assertOk(await berth(['rm', 'crate']));
});

test('the tag moves in the registry: the next deploy pulls the new image, a rollback runs the old bytes', async () => {
  v2 = await publish('v2\n');
  assert.notEqual(v2, v1);
  assertOk(await deploy(IMAGE)); // the same berth.yaml and source: `pull: always` still makes a new release
  assert.equal(await serves(), 'v2\n');
  assert.deepEqual(await running(), [v2]);
  assert.equal(await imageId(IMAGE), v2);
  assertOk(await berth(['rollback', 'shop']));
  assert.equal(await serves(), 'v1\n');
  assert.deepEqual(await running(), [v1], 'the recorded id, not what the tag names now');
});

test('a deploy undone after its pull puts the tag back and removes the image it pulled', async () => {
  const v3 = await publish('v3, no health file\n', false);
  await dockerd.engine.call(
    'POST',
    `/images/${v2}/tag?repo=${encodeURIComponent(IMAGE.replace(/:latest$/, ''))}&tag=latest`,
  );
  const r = await deploy(IMAGE);
  assert.notEqual(r.code, 0, `v3 never gets healthy: ${r.stdout}${r.stderr}`);
  assert.equal(await imageId(IMAGE), v2, 'the tag names what it named before the pull');
  assert.equal(await imageId(v3), undefined, 'the image pulled is gone');
  assert.equal(await serves(), 'v1\n');
  assert.equal(await imageId(v1), v1, 'the image a kept release runs stays');
});

test('pruned releases take the images they pulled once no tag names them and no kept release runs them', async () => {
  writeFileSync(path.join(home.home, 'config.yaml'), 'releases_keep: 2\n');
  assertOk(await home.cli('daemon', 'stop'));
  assertOk(await home.cli('daemon', 'start'));
  const v4 = await publish('v4\n');
  assertOk(await deploy(IMAGE));
  const v5 = await publish('v5\n');
  assertOk(await deploy(IMAGE));
  assert.equal(await serves(), 'v5\n');
  assert.equal(await imageId(v1), undefined, 'release 1 is pruned and its image untagged: removed');
  assert.equal(await imageId(v2), undefined, 'the tag moved on from v2 and its releases are pruned: removed');
  assert.equal(await imageId(v4), v4, 'a kept release runs it');
  assert.equal(await imageId(IMAGE), v5);
  assert.ok(await imageId('berth-test/local:1'), 'an image still tagged stays');
});

test('the registry password is nowhere: not in what berth printed, its logs, its journal or its store', () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else if (e.isFile()) files.push(path.join(dir, e.name));
  };
  walk(home.home);
  assert.ok(files.some((f) => f.endsWith('berth.db')));
  assert.ok(files.some((f) => /build-\d+\.log$/.test(f)));
  for (const secret of [PASSWORD, WRONG]) {
    for (const f of files) assert.ok(!readFileSync(f).includes(secret), `${secret} found in ${f}`);
    for (const text of printed) assert.ok(!text.includes(secret), `${secret} printed: ${text}`);
  }
});
