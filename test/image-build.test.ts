import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { BerthError } from '../src/core/errors.js';
import { ContainerEngine } from '../src/runtime/container-engine.js';
import { buildImage, type ImageBuildSpec } from '../src/runtime/image-build.js';
import { sleep } from './helpers/home.js';

/**
 * A release's image built by a real, private dockerd (its own data root, exec root, pidfile and
 * socket under this test's directory, in a network namespace of its own, no bridge): the context
 * is a tar of a snapshot directory made without following links; args, target and nocache reach
 * the engine; the tag is berth/<app>-<env>:<release>. Nothing is pulled: every image is FROM scratch.
 * It needs root and dockerd (Debian's docker.io, which scripts/test.sh installs): without them it fails, never skips.
 */
const dockerd = spawnSync('sh', ['-c', 'command -v dockerd'], { encoding: 'utf8' }).stdout.trim();

const root = mkdtempSync(path.join(tmpdir(), 'berth-image-build-'));
const socket = path.join(root, 'docker.sock');
let daemon: ChildProcess | undefined;
const client = new ContainerEngine(socket);

before(async () => {
  assert.ok(process.getuid?.() === 0, 'test/image-build runs a private dockerd: run it as root');
  assert.ok(dockerd !== '', 'test/image-build needs dockerd: apt-get install docker.io (scripts/test.sh does)');
  const log = openSync(path.join(root, 'dockerd.log'), 'a');
  daemon = spawn(
    'unshare',
    [
      ...['--net', '--kill-child', '--', dockerd],
      ...['--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'exec')],
      ...['--pidfile', path.join(root, 'dockerd.pid'), '-H', `unix://${socket}`],
      ...['--bridge=none', '--iptables=false', '--ip-masq=false', '--storage-driver=vfs', '--log-level=warn'],
      ...['--containerd-namespace=berth-image-build', '--containerd-plugins-namespace=berth-image-build-p'],
    ],
    { stdio: ['ignore', log, log] },
  );
  for (let i = 0; i < 600 && (await engine('GET', '/_ping')).status !== 200; i++) await sleep(100);
});

after(async () => {
  client.close();
  if (daemon?.exitCode === null) {
    const exited = new Promise((r) => daemon?.once('exit', r));
    try {
      process.kill(Number(readFileSync(path.join(root, 'dockerd.pid'), 'utf8')), 'SIGTERM'); // dockerd ends its containerd
    } catch {
      daemon.kill('SIGTERM'); // no pidfile yet: unshare's --kill-child ends dockerd
    }
    await Promise.race([exited, sleep(30_000)]);
  }
  rmSync(root, { recursive: true, force: true });
});

/** One request to the private engine: status and body (a body is a Buffer: `images/get` is a tar). */
function engine(method: string, route: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve) => {
    const r = request({ socketPath: socket, method, path: route }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    r.on('error', () => resolve({ status: 0, body: Buffer.alloc(0) }));
    r.end();
  });
}

/** A release snapshot with the app's source: a Dockerfile in `app/` with two stages. */
function snapshot(name: string, files: Record<string, string>): string {
  const dir = path.join(root, name);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

const DOCKERFILE = [
  'FROM scratch AS base',
  'ARG GREETING=none',
  'COPY . /ctx/',
  'LABEL greeting=$GREETING stage=base',
  'FROM base AS final',
  'LABEL stage=final',
  '',
].join('\n');

async function build(snap: string, spec: ImageBuildSpec, release: number, noCache = false) {
  const lines: string[] = [];
  const r = await buildImage({
    engine: client,
    snapshot: snap,
    spec,
    app: 'shop',
    env: 'production',
    release,
    noCache,
    log: (l) => lines.push(l),
  });
  return { ...r, log: lines.join('\n') };
}

async function labels(tag: string): Promise<Record<string, string>> {
  const r = await engine('GET', `/images/${encodeURIComponent(tag)}/json`);
  assert.equal(r.status, 200, r.body.toString());
  return (JSON.parse(r.body.toString()) as { Config: { Labels: Record<string, string> } }).Config.Labels;
}

test('args and target reach the engine; the image is tagged berth/<app>-<env>:<release>; nocache builds afresh', async () => {
  const snap = snapshot('one', { 'app/Dockerfile': DOCKERFILE, 'app/hello.txt': 'hello\n' });
  const spec = { context: 'app', args: { GREETING: 'bonjour' }, target: 'base' };
  const first = await build(snap, spec, 1);
  assert.equal(first.tag, 'berth/shop-production:1');
  assert.match(first.imageId, /^sha256:[0-9a-f]{64}$/);
  assert.match(first.log, /Successfully tagged berth\/shop-production:1/);
  assert.deepEqual(await labels('berth/shop-production:1'), { greeting: 'bonjour', stage: 'base' });
  const cached = await build(snap, spec, 2);
  assert.match(cached.log, /Using cache/);
  const fresh = await build(snap, spec, 3, true);
  assert.doesNotMatch(fresh.log, /Using cache/);
  assert.deepEqual(await labels('berth/shop-production:3'), { greeting: 'bonjour', stage: 'base' });
  await build(snap, { context: 'app' }, 4);
  assert.deepEqual(await labels('berth/shop-production:4'), { greeting: 'none', stage: 'final' });
});

test('a link in the context goes in as a link: what it points to outside never reaches the engine', async () => {
  const outside = snapshot('outside', { 'secret.txt': 'TOP-SECRET-OUTSIDE\n', 'dir/inner.txt': 'INNER-SECRET\n' });
  const snap = snapshot('links', { 'app/Dockerfile': DOCKERFILE, 'app/hello.txt': 'HELLO-INSIDE\n' });
  symlinkSync(path.join(outside, 'secret.txt'), path.join(snap, 'app', 'leak'));
  symlinkSync(path.join(outside, 'dir'), path.join(snap, 'app', 'leakdir'));
  const built = await build(snap, { context: 'app' }, 1);
  const saved = await engine('GET', `/images/${encodeURIComponent(built.tag)}/get`);
  assert.equal(saved.status, 200);
  const text = saved.body.toString('latin1');
  assert.ok(text.includes('HELLO-INSIDE'), 'the export holds the context (the search below can find content)');
  assert.ok(text.includes(path.join(outside, 'secret.txt')), 'the link is in the image, as a link');
  assert.ok(!text.includes('TOP-SECRET-OUTSIDE') && !text.includes('INNER-SECRET'), 'a linked file was read');
});

test('a context or Dockerfile that is a link, or outside, is refused before the engine is asked', async () => {
  const outside = snapshot('elsewhere', { Dockerfile: DOCKERFILE });
  const snap = snapshot('refused', { 'app/hello.txt': 'x\n' });
  symlinkSync(outside, path.join(snap, 'linked'));
  symlinkSync(path.join(outside, 'Dockerfile'), path.join(snap, 'app', 'Dockerfile'));
  const refused = async (spec: ImageBuildSpec, pattern: RegExp) =>
    assert.rejects(build(snap, spec, 1), (err: unknown) => {
      assert.ok(err instanceof BerthError && pattern.test(err.message), String(err));
      return true;
    });
  await refused({ context: 'linked' }, /no build\.context linked \(a directory, not a link\)/);
  await refused({ context: 'app' }, /no build\.dockerfile Dockerfile in app \(a file, not a link\)/);
  await refused({ context: '../elsewhere' }, /build\.context "\.\.\/elsewhere" leaves its directory/);
  await refused({ context: 'app', dockerfile: '../linked/Dockerfile' }, /build\.dockerfile .* leaves its directory/);
});

test("a failing step fails the build with the engine's message; its output is in the log", async () => {
  const snap = snapshot('failing', { Dockerfile: 'FROM scratch\nCOPY missing.txt /\n' });
  const lines: string[] = [];
  await assert.rejects(
    buildImage({
      engine: client,
      snapshot: snap,
      spec: {},
      app: 'shop',
      env: 'production',
      release: 9,
      noCache: false,
      log: (l) => lines.push(l),
    }),
    (err: unknown) => {
      assert.ok(err instanceof BerthError, String(err));
      assert.match(err.message, /^building berth\/shop-production:9: .*missing\.txt/);
      return true;
    },
  );
  assert.match(lines.join('\n'), /Step 2\/2 : COPY missing\.txt/);
});

test("the context's .dockerignore is applied as the Docker CLI does; the Dockerfile is sent whatever it says", async () => {
  const snap = snapshot('ignore', {
    Dockerfile: 'FROM scratch\nCOPY . /ctx/\n',
    '.dockerignore': '# build junk\nnode_modules\n*.log\n!keep.log\nsecret/**\nDockerfile\n',
    'app.txt': 'APP-SENT\n',
    'keep.log': 'KEEP-LOG-SENT\n',
    'debug.log': 'DEBUG-LOG-LEFT-OUT\n',
    'node_modules/dep/index.js': 'NODE-MODULES-LEFT-OUT\n',
    'secret/deep/key.txt': 'SECRET-DIR-LEFT-OUT\n',
  });
  const built = await build(snap, {}, 5);
  const text = (await engine('GET', `/images/${encodeURIComponent(built.tag)}/get`)).body.toString('latin1');
  assert.ok(text.includes('APP-SENT') && text.includes('KEEP-LOG-SENT'), 'what is not ignored is sent');
  for (const left of ['DEBUG-LOG-LEFT-OUT', 'NODE-MODULES-LEFT-OUT', 'SECRET-DIR-LEFT-OUT'])
    assert.ok(!text.includes(left), `${left} was sent`);
});
