import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { InstanceStatus } from '../src/core/results.js';
import { TestDockerd, withEngine } from './helpers/dockerd.js';
import { hit } from './helpers/http.js';
import { assertOk, TestHome } from './helpers/home.js';

/**
 * `build: { context, dockerfile, args }` services: the deploy builds the image from the release
 * snapshot on a private dockerd (FROM scratch with Debian's static busybox; nothing pulled), tagged
 * berth/<app>-<env>:<release>, its output in the release's build log; the container runs the image
 * id the engine answered.
 */
const home = new TestHome('31700-31799');
const P = home.httpPort;
const dockerd = new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-')));

withEngine(home, dockerd, async () => {
  mkdirSync(home.home, { recursive: true });
  writeFileSync(path.join(home.home, 'config.yaml'), 'releases_keep: 2\n');
});

/** The image release 1 ran (test 1), gone once release 1 is pruned. */
let first = '';

const MANIFEST = (health = '/health') => `app: built
services:
  web:
    build: { context: site, dockerfile: web.Dockerfile, args: { FLAVOUR: plain } }
    container_port: 8080
    health: { http: ${health}, start_timeout: 3s }
    drain: 1s
    stop_timeout: 1s
    routes: [built.test]
`;

const dockerfile = (extra: string[] = []) =>
  [
    'FROM scratch',
    'ARG FLAVOUR',
    'COPY busybox /bin/busybox',
    'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
    'RUN echo "flavour $FLAVOUR" > /flavour',
    ...extra,
    'COPY www /www',
    'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]',
    '',
  ].join('\n');

const dir = home.app('built', MANIFEST(), {
  'site/web.Dockerfile': dockerfile(),
  'site/www/health': 'ok\n',
  'site/www/index.html': 'one\n',
});
copyFileSync('/bin/busybox', path.join(dir, 'site', 'busybox'));

const buildLog = async (release: number) =>
  (await home.cli('logs', 'built', '--build', '--release', String(release))).stdout;

const current = async () => (await home.json<InstanceStatus[]>('ps', 'built')).filter((s) => s.current);

/** The image the running container was created from (its id), and the id of the release's tag. */
async function images(release: number): Promise<{ running: string[]; tagged: string }> {
  const list = await dockerd.engine.call<{ Id: string; Labels: Record<string, string> }[]>('GET', '/containers/json');
  const running = await Promise.all(
    list
      .filter((c) => c.Labels['berth.app'] === 'built')
      .map(async (c) => (await dockerd.engine.call<{ Image: string }>('GET', `/containers/${c.Id}/json`)).Image),
  );
  const tag = encodeURIComponent(`berth/built-production:${release}`);
  return { running, tagged: (await dockerd.engine.call<{ Id: string }>('GET', `/images/${tag}/json`)).Id };
}

test('a build: service is built from the release snapshot, tagged per release, and served through the proxy', async () => {
  assertOk(await home.cli('deploy', dir));
  assert.equal((await hit(P, 'built.test', '/')).text(), 'one\n');
  const [row] = await current();
  assert.equal(row?.image, 'berth/built-production:1');
  const { running, tagged } = await images(1);
  assert.deepEqual(running, [tagged]);
  first = tagged;
  const log = await buildLog(1);
  assert.match(log, /building the image of web/);
  assert.match(log, /Successfully tagged berth\/built-production:1/);
});

test('a second deploy after a change in the context serves the new content (cached steps reused)', async () => {
  writeFileSync(path.join(dir, 'site', 'www', 'index.html'), 'two\n');
  assertOk(await home.cli('deploy', dir));
  assert.equal((await hit(P, 'built.test', '/')).text(), 'two\n');
  assert.equal((await current())[0]?.image, 'berth/built-production:2');
  assert.match(await buildLog(2), /Using cache/);
  // A rollback runs release 1's image again.
  assertOk(await home.cli('rollback', 'built'));
  assert.equal((await hit(P, 'built.test', '/')).text(), 'one\n');
  const { running, tagged } = await images(1);
  assert.deepEqual(running, [tagged]);
  assertOk(await home.cli('deploy', dir, '--wait'));
  assert.equal((await hit(P, 'built.test', '/')).text(), 'two\n');
});

test('deploy --no-cache builds every step afresh, also when nothing changed', async () => {
  const before = await current();
  const r = await home.cli('deploy', dir, '--no-cache', '--json');
  assertOk(r);
  const release = (JSON.parse(r.stdout) as { release: number }).release;
  assert.ok(release > (before[0]?.release ?? 0), `a new release, not "unchanged": ${r.stdout}`);
  const log = await buildLog(release);
  assert.match(log, /--no-cache/);
  assert.match(log, /Successfully tagged/);
  assert.doesNotMatch(log, /Using cache/);
  assert.equal((await hit(P, 'built.test', '/')).text(), 'two\n');
});

test('a failing Dockerfile step fails the deploy with the end of the build log; the current release keeps serving', async () => {
  const [serving] = await current();
  assert.ok(serving);
  writeFileSync(
    path.join(dir, 'site', 'web.Dockerfile'),
    dockerfile(['RUN word=broken; echo "the $word step says so"; exit 3']),
  );
  writeFileSync(path.join(dir, 'site', 'www', 'index.html'), 'three\n');
  const r = await home.cli('deploy', dir);
  assert.notEqual(r.code, 0);
  // The step's own output (not only the engine's message, which quotes the command with $word) from the build log.
  assert.match(r.stdout + r.stderr, /the broken step says so/);
  assert.equal((await hit(P, 'built.test', '/')).text(), 'two\n');
  const now = await current();
  assert.deepEqual(
    now.map((s) => [s.release, s.image]),
    [[serving.release, serving.image]],
  );
  // Nothing of the failed release started.
  const list = await dockerd.engine.call<{ Labels: Record<string, string> }[]>('GET', '/containers/json?all=1');
  assert.deepEqual(
    list.filter((c) => c.Labels['berth.app'] === 'built').map((c) => c.Labels['berth.release']),
    [String(serving.release)],
  );
});

/** The berth/built-production tags on the engine, and whether an image id is there at all. */
async function engineImages(): Promise<{ tags: string[]; ids: Set<string> }> {
  const all = await dockerd.engine.call<{ Id: string; RepoTags: string[] | null }[]>('GET', '/images/json?all=1');
  const tags = all.flatMap((i) => (i.RepoTags ?? []).filter((t) => t.startsWith('berth/built-production:')));
  return { tags: tags.sort(), ids: new Set(all.map((i) => i.Id)) };
}

test('images of pruned releases go with them (releases_keep: 2): release 1 image is gone from the engine', async () => {
  const { tags, ids } = await engineImages();
  const kept = (await home.json<{ releases: { number: number }[] }>('releases', 'built')).releases.map((r) => r.number);
  assert.equal(kept.length, 2);
  assert.deepEqual(tags, kept.map((n) => `berth/built-production:${n}`).sort());
  assert.ok(first.startsWith('sha256:'));
  assert.equal(ids.has(first), false, 'release 1 image (and its id) was removed with the release');
});

test('a deploy undone after its image was built removes that image', async () => {
  writeFileSync(path.join(dir, 'site', 'web.Dockerfile'), dockerfile());
  writeFileSync(path.join(dir, 'berth.yaml'), MANIFEST('/missing'));
  const before = await engineImages();
  const r = await home.cli('deploy', dir);
  assert.notEqual(r.code, 0);
  const failed = Number(/undo snapshot source as release (\d+)/.exec(r.stderr)?.[1]);
  assert.match(await buildLog(failed), new RegExp(`Successfully tagged berth/built-production:${failed}`));
  assert.deepEqual((await engineImages()).tags, before.tags);
  assert.equal((await hit(P, 'built.test', '/')).text(), 'two\n');
});
