import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { parse } from 'yaml';
import type { InstanceStatus } from '../src/core/results.js';
import { TestDockerd, withEngine } from './helpers/dockerd.js';
import { hit } from './helpers/http.js';
import { assertOk, REPO, TestHome } from './helpers/home.js';

/**
 * The berth.yaml that `berth import compose` prints for each golden fixture (test/fixtures/compose:
 * a seed 003-like platform of ten services, a seed 000-like Postgres/Redis/backend stack) deploys,
 * unedited, on a private dockerd, health-gated for real.
 *
 * Nothing can be pulled, and the real programs (Saleor, Postgres, Redis, gunicorn, python) are not
 * here: every image the fixtures name is a stand-in built FROM Debian's static busybox and tagged
 * under that name through the engine API, and every Dockerfile build gets a context whose Dockerfile
 * builds FROM it offline. The stand-in (/bin/standin) takes the place of each program the manifests
 * run (`python`, `gunicorn`, `redis-server`, `/app/entrypoint.sh` are links to it, and it is the image's
 * CMD): whatever its arguments, it serves the image's /www with busybox httpd on $PORT, which Berth
 * sets to the service's container_port. Each image holds the file its service's http health check
 * asks for, so the gate passes only when the container really listens where the manifest says.
 */
const home = new TestHome('32400-32449');
const P = home.httpPort;
const dockerd = new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-')));
const FIXTURES = path.join(REPO, 'test', 'fixtures', 'compose');
const BASE = 'berth-test/standin:1';

const STANDIN = `#!/bin/sh
# Stands in for the image's own program ("$0 $*"): serves /www on $PORT (the container_port).
echo "stand-in for $0 $* on port $PORT"
httpd -f -p "$PORT" -h /www &
trap 'kill $!; exit 0' TERM INT
wait
`;

interface Imported {
  app: string;
  services: Record<
    string,
    {
      image?: string;
      build?: { context?: string; dockerfile?: string; args?: Record<string, string>; target?: string };
      health?: { http?: string };
    }
  >;
}

/**
 * The stand-in for one service, FROM the base: its Dockerfile lines and the files of its context
 * (the file its http health check asks for, copied to /www; each build arg written to /www/arg-NAME).
 */
function standin(svc: Imported['services'][string]): { lines: string[]; files: Record<string, string> } {
  const url = svc.health?.http;
  const file = url === undefined ? undefined : url.endsWith('/') ? `${url}index.html` : url;
  const args = Object.keys(svc.build?.args ?? {});
  return {
    lines: [
      ...(file ? ['COPY www /www'] : []),
      ...args.flatMap((a) => [`ARG ${a}`, `RUN echo "$${a}" > /www/arg-${a}`]),
    ],
    files: file ? { [`www${file}`]: 'ok\n' } : {},
  };
}

/** Builds `tag` through the engine API from a context of `files` (executable: the stand-in is a script). */
async function buildTag(tag: string, files: Record<string, string>): Promise<void> {
  const ctx = mkdtempSync(path.join(dockerd.dir, 'ctx-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(ctx, name)), { recursive: true });
    writeFileSync(path.join(ctx, name), text, { mode: 0o755 });
  }
  await dockerd.buildTar(tag, ['-c', '-C', ctx, '.']);
}

withEngine(home, dockerd, async () => {
  await dockerd.buildImage('berth-test/busybox:1', {});
  const programs = ['/bin/standin', '/bin/python', '/bin/gunicorn', '/bin/redis-server', '/app/entrypoint.sh'];
  await buildTag(BASE, {
    Dockerfile: ['FROM berth-test/busybox:1', ...programs.map((p) => `COPY standin ${p}`), 'CMD ["standin"]', ''].join(
      '\n',
    ),
    standin: STANDIN,
  });
});

/**
 * Imports the fixture, makes each `image:` exist on the engine (a stand-in tagged under its name) and
 * each build context exist next to the berth.yaml, and returns the app's directory.
 */
async function imported(fixture: string): Promise<{ dir: string; m: Imported }> {
  const r = await home.cli('import', 'compose', path.join(FIXTURES, fixture, 'docker-compose.yml'));
  assert.equal(r.code, 0, r.stderr);
  const m = parse(r.stdout) as Imported;
  const files: Record<string, string> = {};
  for (const svc of Object.values(m.services)) {
    if (svc.image !== undefined) {
      const { lines, files } = standin(svc);
      await buildTag(svc.image, { ...files, Dockerfile: [`FROM ${BASE}`, ...lines, ''].join('\n') });
      continue;
    }
    assert.ok(svc.build, 'every service has an image or a build');
    const target = svc.build.target;
    const { lines, files: own } = standin(svc);
    // With a target, the stage after it fails: building it would fail the deploy.
    const dockerfile = target
      ? [`FROM ${BASE} AS ${target}`, ...lines, `FROM ${BASE} AS after-${target}`, 'RUN exit 1']
      : [`FROM ${BASE}`, ...lines];
    const context = svc.build.context ?? '.';
    files[path.posix.join(context, svc.build.dockerfile ?? 'Dockerfile')] = dockerfile.join('\n') + '\n';
    for (const [name, text] of Object.entries(own)) files[path.posix.join(context, name)] = text;
  }
  return { dir: home.app(m.app, r.stdout, files), m };
}

/** Runs `cmd` in the running container of `service` (engine exec API): its exit code and output. */
async function exec(app: string, service: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`berth.app=${app}`, `berth.service=${service}`] }));
  const [c] = await dockerd.engine.call<{ Id: string }[]>('GET', `/containers/json?filters=${filters}`);
  assert.ok(c, `a running container of ${service}`);
  const made = { Cmd: cmd, AttachStdout: true, AttachStderr: true };
  const { Id } = await dockerd.engine.call<{ Id: string }>('POST', `/containers/${c.Id}/exec`, made);
  const start = Readable.from([JSON.stringify({ Detach: false, Tty: false })]);
  const body = await dockerd.engine.stream('POST', `/exec/${Id}/start`, start, 'application/json');
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  // The output comes in frames: 8 bytes of header (stream, 0, 0, 0, size as uint32 BE), then the bytes.
  let raw = Buffer.concat(chunks);
  let out = '';
  while (raw.length >= 8) {
    const size = raw.readUInt32BE(4);
    out += raw.subarray(8, 8 + size).toString();
    raw = raw.subarray(8 + size);
  }
  const { ExitCode } = await dockerd.engine.call<{ ExitCode: number }>('GET', `/exec/${Id}/json`);
  return { code: ExitCode, out };
}

const running = async (app: string) =>
  (await home.json<InstanceStatus[]>('ps', app)).filter((s) => s.current && s.state === 'healthy');

test(
  'the imported seed 003-like platform (one image, nine builds, health gates, a route) deploys and serves',
  { timeout: 600_000 },
  async () => {
    const { dir, m } = await imported('platform');
    const r = await home.cli('deploy', dir, '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rows = await running('platform');
    assert.deepEqual(rows.map((s) => s.service).sort(), Object.keys(m.services).sort());
    // The route from the Traefik label reaches the saleor stand-in through the proxy, on its health path.
    assert.equal((await hit(P, 'api.example.com', '/health/')).text(), 'ok\n');
    // The build args and target reached the build (the stage after `prod` fails if it is built).
    const brain = rows.find((s) => s.service === 'brain');
    assert.ok(brain?.port);
    assert.equal((await hit(brain.port, 'x', '/arg-PYTHON_VERSION')).text(), '3.11\n');
    // Services reach each other by their compose names, at the addresses their imported env gives.
    const agents = await exec('platform', 'ai-agents', ['sh', '-c', 'wget -q -O- "$BRAIN_URL/health"']);
    assert.deepEqual(agents, { code: 0, out: 'ok\n' });
  },
);

test(
  'the imported seed 000-like stack (postgres, redis, a backend gated on a healthy db) deploys and serves',
  { timeout: 600_000 },
  async () => {
    const { dir, m } = await imported('sprintforge');
    const r = await home.cli('deploy', dir, '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rows = await running(m.app);
    assert.deepEqual(rows.map((s) => s.service).sort(), ['backend', 'db', 'redis']);
    const backend = rows.find((s) => s.service === 'backend');
    assert.ok(backend?.port);
    assert.equal((await hit(backend.port, 'x', '/api/v1/health')).text(), 'ok\n');
    const images = Object.fromEntries(rows.map((s) => [s.service, s.image]));
    assert.deepEqual(images, {
      db: 'postgres:15-alpine',
      redis: 'redis:7-alpine',
      backend: 'registry.example.com/sprintforge/backend:latest',
    });
  },
);

/**
 * Issue 18: a compose file that exposes its services the way most do, by publishing ports
 * (`8080:80`, a loopback-only `127.0.0.1:9000:9000`) without Traefik labels: the import gives each
 * published HTTP service a route, and through it the proxy reaches the container; the published
 * database is not routed (it does not speak HTTP) and still runs.
 */
test('the imported compose file with published ports and no Traefik labels answers on the routes it was given', async () => {
  const { dir, m } = await imported('published');
  const r = await home.cli('deploy', dir, '--json');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const rows = await running(m.app);
  assert.deepEqual(rows.map((s) => s.service).sort(), ['admin', 'db', 'web']);
  const web = await hit(P, 'web.shopfront.localhost', '/healthz');
  assert.equal(web.status, 200, web.text());
  assert.equal(web.text(), 'ok\n');
  assert.equal((await hit(P, 'admin.shopfront.localhost', '/status')).text(), 'ok\n');
  assert.equal((await hit(P, 'db.shopfront.localhost', '/')).status, 404, 'no route to the database');
});

/**
 * Issue 18: `berth init`'s berth.yaml for a Dockerfile app and for a compose app (init defers to
 * `berth import compose`) deploys unedited and answers through Berth's proxy on the route init gave
 * it, health-gated on the path init read (the Dockerfile's HEALTHCHECK, compose's healthcheck).
 * test/init golden-checks the same fixtures; these build FROM this file's busybox image.
 */
test("berth init's Dockerfile and compose results deploy and answer through the proxy", async () => {
  const apps = [
    { kind: 'dockerfile-busybox', host: 'dockerfile-busybox.localhost', body: 'dockerfile app from berth init\n' },
    { kind: 'compose-busybox', host: 'guestbook.localhost', body: 'compose app from berth init\n' },
  ];
  await Promise.all(
    apps.map(async (a) => {
      const dir = path.join(home.root, 'init', a.kind);
      cpSync(path.join(REPO, 'test', 'fixtures', 'init', a.kind), dir, { recursive: true });
      assertOk(await home.cli('init', dir));
      const r = await home.cli('up', dir);
      assert.equal(r.code, 0, `${a.kind}: ${r.stderr}${r.stdout}`);
    }),
  );
  for (const a of apps) {
    const r = await hit(P, a.host, '/');
    assert.equal(r.status, 200, `${a.kind}: ${r.text()}`);
    assert.equal(r.text(), a.body, a.kind);
  }
  const rows = await running('guestbook');
  assert.deepEqual(rows.map((s) => s.service).sort(), ['cache', 'web']);
});
