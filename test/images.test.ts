import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ImagesView, PruneResult } from '../src/core/image-results.js';
import type { Finding } from '../src/doctor/finding.js';
import { TestDockerd, withEngine } from './helpers/dockerd.js';
import { hit } from './helpers/http.js';
import { assertOk, TestHome } from './helpers/home.js';

/**
 * Disk never fills up: 20 deploys of an image whose build context changes each time leave the
 * engine's disk bounded by releases_keep; a failed build leaves nothing; `berth images` says which
 * release keeps each image; `berth images prune` removes only this BERTH_HOME's leftovers; `berth
 * rm` and `berth env rm` take their networks and images; doctor warns past container_disk_warn.
 * On a private dockerd (FROM scratch with Debian's static busybox; nothing pulled).
 */
const home = new TestHome('32600-32699');
const P = home.httpPort;
const dockerd = new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-')));
const engine = dockerd.engine;
const KEEP = 3;
const DEPLOYS = Number(process.env.IMAGE_DEPLOYS ?? 20);
/** Random bytes in the context each deploy: a layer of this size no other release shares. */
const BLOB = 256 * 1024;

withEngine(home, dockerd, async () => {
  mkdirSync(home.home, { recursive: true });
  writeFileSync(path.join(home.home, 'config.yaml'), `releases_keep: ${KEEP}\n`);
  await dockerd.buildImage('berth-test/web:1', { health: 'ok\n', 'index.html': 'side\n' });
});

const MANIFEST = `app: churn
services:
  web:
    build: { context: site }
    container_port: 8080
    health: { http: /health, start_timeout: 5s }
    drain: 0s
    stop_timeout: 1s
    routes: [churn.test]
`;
const dockerfile = (extra: string[] = []) =>
  [
    'FROM scratch',
    'COPY busybox /bin/busybox',
    'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
    'COPY www /www',
    ...extra,
    `CMD ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]`,
    '',
  ].join('\n');
const dir = home.app('churn', MANIFEST, { 'site/Dockerfile': dockerfile(), 'site/www/health': 'ok\n' });
copyFileSync('/bin/busybox', path.join(dir, 'site', 'busybox'));

/** A new build context: the page says `n`, and a blob of random bytes makes its layer new. */
function change(n: number): void {
  writeFileSync(path.join(dir, 'site', 'www', 'index.html'), `${n}\n`);
  writeFileSync(path.join(dir, 'site', 'www', 'blob'), randomBytes(BLOB));
}

interface Img {
  Id: string;
  RepoTags: string[] | null;
  Labels: Record<string, string> | null;
}
const q = (f: Record<string, string[]>) => `filters=${encodeURIComponent(JSON.stringify(f))}`;
/** The images this home built (label berth.image=<home>/<app>/<env>/<release>/<service>), of one app or environment. */
async function ours(app?: string, env?: string): Promise<Img[]> {
  const list = await engine.call<Img[]>('GET', `/images/json?${q({ label: ['berth.image'] })}`);
  const prefix = [H, app, env].filter((x) => x !== undefined).join('/') + '/';
  return list.filter((i) => i.Labels?.['berth.image']?.startsWith(prefix));
}
const layers = async () => (await engine.call<{ LayersSize: number }>('GET', '/system/df')).LayersSize;
const networks = async () => (await engine.call<{ Name: string }[]>('GET', '/networks')).map((n) => n.Name).sort();
const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;

/** This BERTH_HOME's identity on the engine, from the label of a container it runs. */
let H = '';

test(`${DEPLOYS} deploys of a changing image with releases_keep ${KEEP}: this home's images and the engine's disk stay bounded`, async () => {
  const figures: number[] = [];
  for (let n = 1; n <= DEPLOYS; n++) {
    change(n);
    assertOk(await home.cli('deploy', dir));
    assert.equal((await hit(P, 'churn.test', '/')).text(), `${n}\n`);
    figures.push(await layers());
    if (n === 1) {
      const list = await engine.call<{ Labels: Record<string, string> }[]>('GET', '/containers/json');
      H = list[0]?.Labels['berth.home'] ?? '';
      assert.match(H, /^[0-9a-f]{12}$/);
    }
    // Never more images of this home than releases kept (a deploy removes the pruned release's before it ends).
    const mine = await ours();
    assert.ok(mine.length <= KEEP, `after deploy ${n}: ${mine.length} images of this home: ${JSON.stringify(mine)}`);
  }
  const first = figures[0] as number;
  const max = Math.max(...figures);
  // The first deploy's layers (busybox, its links, one blob), plus one blob per other release kept and slack.
  const bound = first + (KEEP - 1) * BLOB + 256 * 1024;
  console.log(
    `engine disk (image layers, /system/df) over ${DEPLOYS} deploys, releases_keep ${KEEP}: first ${mib(first)}, ` +
      `max ${mib(max)}, last ${mib(figures.at(-1) as number)} (bound ${mib(bound)}; ` +
      `without pruning it would grow to ~${mib(first + (DEPLOYS - 1) * BLOB)})`,
  );
  assert.ok(max <= bound, `disk use ${figures.map(mib).join(', ')} passed ${mib(bound)}`);
  assert.deepEqual(
    (await ours()).flatMap((i) => i.RepoTags ?? []).sort(),
    [DEPLOYS - 2, DEPLOYS - 1, DEPLOYS].map((n) => `berth/churn-production:${n}`).sort(),
  );
});

test('a failed build leaves no image behind (the steps it built are removed with it)', async () => {
  const dangling = async () => engine.call<Img[]>('GET', `/images/json?${q({ dangling: ['true'] })}`);
  assert.deepEqual(await dangling(), []);
  const before = await layers();
  change(1000);
  writeFileSync(path.join(dir, 'site', 'Dockerfile'), dockerfile(['RUN echo the step that fails; exit 3']));
  const r = await home.cli('deploy', dir);
  assert.notEqual(r.code, 0);
  assert.deepEqual(await dangling(), []);
  assert.match(r.stdout + r.stderr, /the image the failed build left/);
  assert.ok((await layers()) <= before, 'the failed build took its new layer with it');
  writeFileSync(path.join(dir, 'site', 'Dockerfile'), dockerfile());
  assert.equal((await hit(P, 'churn.test', '/')).text(), `${DEPLOYS}\n`);
});

test('berth images: each image of this home with its tag, size, the release that uses it and why it is kept', async () => {
  const v = await home.json<ImagesView>('images');
  assert.equal(v.engine, true);
  const churn = v.images.filter((i) => i.app === 'churn');
  assert.deepEqual(
    churn.map((i) => [i.release, i.tags, i.ours, i.kept, i.usedBy.map((u) => u.why)]),
    [
      [DEPLOYS, [`berth/churn-production:${DEPLOYS}`], true, true, ['current']],
      [DEPLOYS - 1, [`berth/churn-production:${DEPLOYS - 1}`], true, true, ['previous']],
      [DEPLOYS - 2, [`berth/churn-production:${DEPLOYS - 2}`], true, true, ['releases_keep']],
    ],
  );
  assert.ok(churn.every((i) => i.size > BLOB && i.id.startsWith('sha256:')));
  assert.deepEqual(v.unused, { count: 0, bytes: 0 });
  const text = (await home.cli('images', 'churn')).stdout;
  assert.match(text, /^APP\s+ENV\s+RELEASE\s+TAG\s+IMAGE\s+SIZE\s+KEPT$/m);
  assert.match(
    text,
    new RegExp(
      `churn\\s+production\\s+${DEPLOYS}\\s+berth/churn-production:${DEPLOYS}\\s+[0-9a-f]{12}\\s+[\\d.]+ MiB\\s+current`,
    ),
  );
  assert.match(text, /3 image\(s\) of this BERTH_HOME; 0 no kept release uses/);
});

/** Builds a small image FROM the test image with these labels (a leftover of some home, or of none). */
async function labelledImage(tag: string, labels: Record<string, string>): Promise<string> {
  const ctx = path.join(dockerd.dir, `ctx-${tag.replace(/[^a-z0-9]/gi, '-')}`);
  mkdirSync(ctx, { recursive: true });
  writeFileSync(path.join(ctx, 'Dockerfile'), `FROM berth-test/web:1\nCOPY blob /blob\n`);
  writeFileSync(path.join(ctx, 'blob'), randomBytes(BLOB));
  const tar = spawn('tar', ['-c', '-C', ctx, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const query = new URLSearchParams({ t: tag, rm: '1', labels: JSON.stringify(labels) });
  const body = await engine.stream('POST', `/build?${query.toString()}`, tar.stdout, 'application/x-tar');
  for await (const chunk of body) if (String(chunk).includes('errorDetail')) throw new Error(String(chunk));
  return (await engine.call<{ Id: string }>('GET', `/images/${encodeURIComponent(tag)}/json`)).Id;
}

test("berth images prune removes this home's unused images, stopped containers and gone networks; never another's", async () => {
  // A leftover of this home (a berthd killed before its undo), and an image of another BERTH_HOME on the same engine.
  await labelledImage('berth/churn-production:999', { 'berth.image': `${H}/churn/production/999/web` });
  const theirs = await labelledImage('berth/churn-production:other', {
    'berth.image': 'a0a0a0a0a0a0/churn/production/1/web',
  });
  const other = { 'berth.home': 'a0a0a0a0a0a0', 'berth.app': 'gone', 'berth.env': 'production' };
  const create = (name: string, labels: Record<string, string>) =>
    engine.call('POST', `/containers/create?name=${name}`, { Image: 'berth-test/web:1', Labels: labels });
  await create('leftover-mine', { 'berth.home': H, 'berth.app': 'churn', 'berth.instance': `${H}:99999` });
  await create('leftover-theirs', { 'berth.home': 'a0a0a0a0a0a0', 'berth.instance': 'a0a0a0a0a0a0:1' });
  await create('not-berths', {});
  const net = (Name: string, labels: Record<string, string>) =>
    engine.call('POST', '/networks/create', { Name, Driver: 'bridge', Labels: labels });
  await net(`berth-${H}-gone-production`, { 'berth.home': H, 'berth.app': 'gone', 'berth.env': 'production' });
  await net('berth-a0a0a0a0a0a0-gone-production', other);

  const listed = await home.json<ImagesView>('images');
  const leftover = listed.images.find((i) => i.tags.includes('berth/churn-production:999'));
  assert.deepEqual([leftover?.ours, leftover?.kept, leftover?.usedBy], [true, false, []]);
  assert.equal(listed.unused.count, 1);
  assert.equal(
    listed.images.some((i) => i.id === theirs),
    false,
    "another home's image is not listed",
  );
  assert.match((await home.cli('images')).stdout, /berth\/churn-production:999 .* no: prune removes it/);

  const r = await home.cli('images', 'prune');
  assertOk(r);
  assert.match(r.stdout, /^removed image berth\/churn-production:999$/m);
  assert.match(r.stdout, /^removed stopped container leftover-mine$/m);
  assert.match(r.stdout, new RegExp(`^removed network berth-${H}-gone-production$`, 'm'));
  assert.match(r.stdout, /^3 removed; disk freed: [\d.]+ (KiB|MiB)$/m);
  const freed = Number(/disk freed: ([\d.]+) KiB/.exec(r.stdout)?.[1] ?? Infinity);
  assert.ok(freed >= BLOB / 1024, `freed ${freed} KiB, at least the leftover's blob`);

  // Another home's, and what Berth did not make, stay; so do the kept releases' images, and the app serves on.
  const tags = (await engine.call<Img[]>('GET', '/images/json')).flatMap((i) => i.RepoTags ?? []);
  assert.ok(tags.includes('berth/churn-production:other'));
  assert.ok(tags.includes('berth-test/web:1'));
  for (const n of [DEPLOYS - 2, DEPLOYS - 1, DEPLOYS]) assert.ok(tags.includes(`berth/churn-production:${n}`));
  const names = (await engine.call<{ Names: string[] }[]>('GET', '/containers/json?all=1')).map((c) => c.Names[0]);
  assert.ok(names.includes('/leftover-theirs') && names.includes('/not-berths'));
  assert.equal(names.includes('/leftover-mine'), false);
  assert.ok((await networks()).includes('berth-a0a0a0a0a0a0-gone-production'));
  assert.equal((await networks()).includes(`berth-${H}-gone-production`), false);
  assert.equal((await hit(P, 'churn.test', '/')).text(), `${DEPLOYS}\n`);
  const again = await home.json<PruneResult>('images', 'prune');
  assert.deepEqual([again.images, again.containers, again.networks], [[], [], []]);
});

test("berth env rm and berth rm remove the environment's network and images from the engine", async () => {
  const side = home.app(
    'side',
    'app: side\nservices:\n  web:\n    build: { context: site }\n    container_port: 8080\n    health: { http: /health }\n    stop_timeout: 1s\n',
    { 'site/Dockerfile': 'FROM berth-test/web:1\nCOPY www /www\n', 'site/www/health': 'ok\n' },
  );
  assertOk(await home.cli('deploy', side));
  assertOk(await home.cli('deploy', side, '--env', 'staging'));
  assert.ok((await networks()).includes(`berth-${H}-side-staging`));
  assert.ok((await networks()).includes(`berth-${H}-side-production`));
  assert.equal((await ours('side')).length, 2);

  assertOk(await home.cli('env', 'rm', 'side', 'staging', '--force'));
  assert.equal((await networks()).includes(`berth-${H}-side-staging`), false);
  assert.deepEqual(await ours('side', 'staging'), []);
  assert.ok((await networks()).includes(`berth-${H}-side-production`), 'production keeps its network');
  assert.equal((await ours('side', 'production')).length, 1, "production's image stays");

  assertOk(await home.cli('rm', 'side'));
  assert.equal((await networks()).includes(`berth-${H}-side-production`), false);
  assert.deepEqual(await ours('side'), []);
  const tags = (await engine.call<Img[]>('GET', '/images/json')).flatMap((i) => i.RepoTags ?? []);
  assert.ok(tags.includes('berth-test/web:1'), 'the image it was built FROM (not built by Berth) stays');
  assert.ok((await networks()).includes(`berth-${H}-churn-production`), "another app's network stays");
  assert.equal((await hit(P, 'churn.test', '/')).text(), `${DEPLOYS}\n`);
});

test('doctor warns when the engine uses more disk than container_disk_warn, naming the figure and berth images prune', async () => {
  // Exit code 1 with a warning: the JSON is read whatever the code.
  const findings = async () =>
    (JSON.parse((await home.cli('doctor', '--json')).stdout) as { findings: Finding[] }).findings;
  assert.deepEqual(
    (await findings()).filter((f) => f.code === 'container_disk'),
    [],
    'under the default (10 GiB): no warning',
  );
  assertOk(await home.cli('config', 'set', 'container_disk_warn', '1K'));
  let disk: Finding | undefined;
  for (let i = 0; i < 100 && !disk; i++) {
    disk = await findings()
      .then((all) => all.find((f) => f.code === 'container_disk'))
      .catch(() => undefined); // berthd restarting with the new setting
    if (!disk) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(disk, 'a container_disk finding');
  assert.equal(disk.severity, 'warning');
  assert.match(
    disk.message,
    /the container engine uses [\d.]+ MiB of disk \(images [\d.]+ MiB, .*\), more than container_disk_warn \(1\.0 KiB\)/,
  );
  assert.match(disk.fix ?? '', /berth images prune/);
  const text = await home.cli('doctor');
  assert.equal(text.code, 1);
  assert.match(text.stdout, /WARN {2}container_disk: the container engine uses/);
});
