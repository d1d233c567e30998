import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { ApiClient, ApiError } from '../src/api/client.js';
import { DAEMON_NODE_FLAGS } from '../src/cli/daemon-control.js';
import { hit } from './helpers/http.js';
import { NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * What berthd's start and a CLI call cost (issue 14): berthd and the CLI each load one bundled file
 * (dist/bundle, scripts/bundle.mjs) instead of hundreds of modules; berthd loads at start only what serving
 * needs (request schemas are compiled on a route's first call, argon2 on the first password, an
 * edge proxy's modules only when one is configured) and answers once the proxy serves the routes;
 * the CLI talks over the unix socket without an Agent (whose net.isIP check compiles an IPv6
 * pattern: 20-100 ms of every CLI run) and a deploy is a single request. A spy preloaded into
 * berthd and the CLI (test/fixtures/load-spy.mjs) notes what each loads and sends.
 */
const home = new TestHome('31000-31099');
const SPY = path.join(REPO, 'test', 'fixtures', 'load-spy.mjs');
const SPY_FILE = path.join(home.root, 'loads.log');
Object.assign(home.env, {
  BERTH_DAEMON_NODE_FLAGS: `${DAEMON_NODE_FLAGS} --import=${SPY}`,
  BERTH_LOAD_SPY_FILE: SPY_FILE,
});
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
after(() => home.cleanup());

/** What the spy noted for one process (berthd) or one kind of process (`berth.js`: CLI runs). */
function noted(who: number | string, kind: string): string[] {
  const lines = existsSync(SPY_FILE) ? readFileSync(SPY_FILE, 'utf8').split('\n') : [];
  return lines
    .map((l) => l.split(' '))
    .filter(([pid, script, what]) => (typeof who === 'number' ? pid === String(who) : script === who) && what === kind)
    .map((parts) => parts.slice(3).join(' '));
}

/** Which npm packages went into each file of dist/bundle (esbuild's metafiles, written by scripts/bundle.mjs). */
const bundled = new Map<string, string[]>();
for (const file of readdirSync(path.join(REPO, 'dist', 'bundle')).filter((f) => f.endsWith('.meta.json'))) {
  const meta = JSON.parse(readFileSync(path.join(REPO, 'dist', 'bundle', file), 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, unknown> }>;
  };
  for (const [out, { inputs }] of Object.entries(meta.outputs))
    bundled.set(
      out.replace(/^.*\/bundle\//, 'bundle/'),
      Object.keys(inputs).flatMap((i) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(i)?.[1] ?? []),
    );
}

/** The npm packages a process loaded: by require or import, and inside the bundled files it loaded. */
function packagesOf(pid: number): Set<string> {
  return new Set([...noted(pid, 'package'), ...noted(pid, 'module').flatMap((m) => bundled.get(m) ?? [])]);
}

test('berthd starts from its bundle without the schema compiler, argon2, an edge or node:https, starts the proxy before its store and collects once quiet; a route still validates on its first call', async () => {
  const r = await home.cli('daemon', 'start');
  assert.equal(r.code, 0, r.stderr);
  const pid = home.daemonPid() as number;
  // One file (and the chunks it shares), not ~800 modules: each costs Node's loader a resolve, a read and a link.
  const modules = noted(pid, 'module');
  assert.ok(modules.includes('bundle/berthd.js'), `berthd runs from its bundle: ${modules.slice(0, 5).join(' ')} ...`);
  const unbundled = modules.filter((m) => !m.startsWith('bundle/berthd'));
  assert.deepEqual(unbundled, [], `berthd loaded ${unbundled.length} modules beside its bundle`);
  const packages = [...packagesOf(pid)];
  assert.ok(
    packages.includes('fastify') && packages.includes('kysely') && packages.includes('better-sqlite3'),
    `the spy sees berthd's loads: ${packages.join(' ')}`,
  );
  // The manifest's and config.yaml's parsers (zod and yaml: 0.6 of berthd's 1.6 MB bundle, and their schemas' building)
  // load with the first manifest or config.yaml, never at the start of a host without a config.yaml.
  for (const p of ['ajv', '@fastify/ajv-compiler', '@node-rs/argon2', 'zod', 'yaml'])
    assert.ok(!packages.includes(p), `berthd loaded ${p} at start: ${packages.join(' ')}`);
  // Each byte of code loaded is parsed at start: what berthd loads stays well under the 1.6 MB it was.
  // Each file once: the spy notes a chunk at every import of it, Node reads and parses it once.
  const files = [...new Set(modules)];
  const bytes = files.reduce((sum, m) => sum + statSync(path.join(REPO, 'dist', m)).size, 0);
  assert.ok(bytes < 1024 * 1024, `berthd loaded ${bytes} bytes of code at start: ${files.join(' ')}`);
  const edges = modules.filter((m) => /edge/.test(m));
  assert.deepEqual(edges, [], 'berthd loaded edge proxy modules with the builtin proxy alone');
  // Node's own modules for what berthd does only with some settings or on some requests (Fastify's https, http2 and
  // dns; TLS, for notifications over HTTPS): loaded then, not at start.
  const builtins = noted(pid, 'builtin');
  assert.ok(
    builtins.includes('http') && builtins.includes('net'),
    `the spy sees Node's modules: ${builtins.join(' ')}`,
  );
  for (const b of ['http2', 'https', 'tls'])
    assert.ok(!builtins.includes(b), `berthd loaded node:${b} at start: ${builtins.join(' ')}`);
  // The proxy's processes (two Node starts) start before berthd opens its store and come up while it recovers.
  const steps = readFileSync(SPY_FILE, 'utf8')
    .split('\n')
    .filter((l) => /^\d+ berthd\.js (spawn|sqlite-open) /.test(l) && l.startsWith(`${pid} `))
    .map((l) => l.split(' ').slice(2).join(' '));
  const keeper = steps.indexOf('spawn keeper.js');
  assert.ok(keeper >= 0 && keeper < steps.indexOf('sqlite-open berth.db'), `berthd's start: ${steps.join(', ')}`);
  // Once it is quiet after its start, berthd collects that start's garbage once (src/daemon/idle-gc.ts).
  await waitFor('berthd collecting once it is quiet', () => noted(pid, 'gc').length > 0 || undefined, 15_000);

  const client = new ApiClient(path.join(home.home, 'berthd.sock'));
  await assert.rejects(client.call('GET', '/v1/apps/web/events?limit=0'), (err: unknown) => {
    assert.ok(err instanceof ApiError && err.status === 400, String(err));
    assert.match(err.message, /limit must be >= 1/);
    return true;
  });
  assert.ok(packagesOf(pid).has('ajv'), 'the schema compiler is loaded once a route needs it');
});

test('a deploy from the CLI is one request over the socket, with no net.isIP', async () => {
  const dir = home.app('one', `app: one\nservices:\n  web:\n    run: ["sleep", "1000"]\n    port: none\n`);
  assert.equal((await home.cli('daemon', 'start')).code, 0); // running already: only the deploy's own requests count
  const cli = { ...home.env, NODE_OPTIONS: `--import=${SPY}` };
  const r = await home.run(['deploy', dir, '--json'], { env: cli });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'succeeded');
  assert.deepEqual(noted('berth.js', 'request'), ['POST /v1/deployments']);
  assert.deepEqual(noted('berth.js', 'isIP'), []);
  // The CLI is one bundled file too. The settings and manifest schemas (zod, yaml), the store (kysely) and the API
  // server (fastify, pino) are berthd's: the CLI's deploy loads none of them. Its imports are noted by the spy's
  // resolve hook, on a thread of its own: found by the CLI's pid.
  // A deploy in its usual form does not even read the rest of the CLI (commander and every other command): bin/berth.js
  // sends it from a small bundle of its own (src/cli/deploy-fast.ts).
  const cliPid = Number(readFileSync(SPY_FILE, 'utf8').match(/^(\d+) berth\.js request/m)?.[1]);
  const modules = noted(cliPid, 'module');
  // CommonJS, as bin/berth.js: Node's ES module loader, ~10 ms of the CLI's start, is never started.
  assert.deepEqual(modules, ['bundle/cli-deploy.cjs'], `the CLI's deploy loaded: ${modules.join(' ')}`);
  const packages = [...packagesOf(cliPid)];
  for (const p of ['commander', 'zod', 'yaml', 'kysely', 'fastify', 'pino', 'better-sqlite3'])
    assert.ok(!packages.includes(p), `the CLI's deploy loaded ${p}: ${packages.join(' ')}`);
  // Its other forms (here: a human's, piped; `--env=production`, which it leaves to commander) print the same way.
  const human = await home.run(['deploy', dir], { env: cli });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^one \(production\): release 1 is current and nothing changed\n/);
  const full = await home.run(['deploy', dir, '--env=production', '--json'], { env: cli });
  assert.equal(full.code, 0, full.stderr);
  assert.equal((JSON.parse(full.stdout) as { status: string }).status, 'unchanged');
  const fullPid = Number([...readFileSync(SPY_FILE, 'utf8').matchAll(/^(\d+) berth\.js request/gm)].at(-1)?.[1]);
  assert.ok(noted(fullPid, 'module').includes('bundle/cli.js'), 'the whole CLI took `--env=production`');
  assert.ok(packagesOf(fullPid).has('commander'), `the spy sees the whole CLI's packages`);
  // The deploy's manifest loaded its parser into berthd (a chunk of berthd's bundle) on first use.
  assert.ok(packagesOf(home.daemonPid() as number).has('zod'), 'berthd loads the manifest schema for a deploy');
  // berthd's threads (the manifest's reader for big manifests) run from bundles of their own too.
  const daemon = noted(home.daemonPid() as number, 'module');
  assert.ok(daemon.includes('bundle/berthd.js'), `berthd's modules: ${daemon.slice(0, 8).join(' ')} ...`);
  const unbundledThreads = daemon.filter((m) => !m.startsWith('bundle/'));
  assert.deepEqual(
    unbundledThreads,
    [],
    `berthd's threads loaded ${unbundledThreads.length} modules beside their bundles`,
  );
});

test('once berthd answers, a proxy it had to start anew serves the routes', async () => {
  const dir = home.app(
    'two',
    `app: two\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [{ host: two.test, tls: off }]\n`,
  );
  assert.equal((await home.cli('deploy', dir)).code, 0);
  assert.equal((await home.cli('daemon', 'stop')).code, 0);
  // Another HTTP port: the next berthd ends the running proxy and starts one on the new port.
  const port = home.httpPort + 100;
  const r = await home.run(['daemon', 'start'], { env: { ...home.env, BERTH_HTTP_PORT: String(port) } });
  assert.equal(r.code, 0, r.stderr);
  const reply = await hit(port, 'two.test', '/');
  assert.equal(reply.status, 200, reply.text());
  assert.equal(typeof reply.json<{ pid: number }>().pid, 'number');
});

test('berth daemon start learns that berthd serves from its socket appearing, not from polling every 50 ms', async () => {
  assert.equal((await home.cli('daemon', 'stop')).code, 0);
  const before = noted('berth.js', 'request').length;
  // A berthd that takes 1.5 s more to start.
  const slow = `${DAEMON_NODE_FLAGS} --import=data:text/javascript,await%20new%20Promise((r)=>setTimeout(r,1500))`;
  const env = { ...home.env, NODE_OPTIONS: `--import=${SPY}`, BERTH_DAEMON_NODE_FLAGS: slow };
  const t0 = Date.now();
  const r = await home.run(['daemon', 'start', '--json'], { env });
  const took = Date.now() - t0;
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { pid: number }).pid, home.daemonPid());
  // Told by the socket's appearance, it asks only every 250 ms meanwhile (a fallback), not every 50 ms.
  const asked = noted('berth.js', 'request').slice(before);
  assert.ok(asked.length >= 2, `the CLI asked berthd ${asked.length} times`);
  assert.ok(asked.length <= took / 150 + 2, `the CLI asked berthd ${asked.length} times in ${took} ms`);
  assert.ok(asked.every((x) => x === 'GET /v1/daemon'));
});
