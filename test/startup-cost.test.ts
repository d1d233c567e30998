import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { ApiClient, ApiError } from '../src/api/client.js';
import { DAEMON_NODE_FLAGS } from '../src/cli/daemon-control.js';
import { hit } from './helpers/http.js';
import { NODE, REPO, TestHome } from './helpers/home.js';

/**
 * What berthd's start and a CLI call cost (issue 14): berthd loads at start only what serving
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

test('berthd starts without the schema compiler, argon2 or an edge; a route still validates on its first call', async () => {
  const r = await home.cli('daemon', 'start');
  assert.equal(r.code, 0, r.stderr);
  const pid = home.daemonPid() as number;
  const packages = noted(pid, 'package');
  assert.ok(
    packages.includes('fastify') && packages.includes('kysely'),
    `the spy sees berthd's loads: ${packages.join(' ')}`,
  );
  for (const p of ['ajv', '@fastify/ajv-compiler', '@node-rs/argon2'])
    assert.ok(!packages.includes(p), `berthd loaded ${p} at start: ${packages.join(' ')}`);
  const modules = noted(pid, 'module');
  assert.ok(modules.includes('src/api/server.js'), `the spy sees berthd's modules: ${modules.length}`);
  for (const m of ['src/proxy/caddy/caddy-edge.js', 'src/proxy/nginx/nginx-edge.js', 'src/proxy/edge/edge-proxy.js'])
    assert.ok(!modules.includes(m), `berthd loaded ${m} with the builtin proxy alone`);

  const client = new ApiClient(path.join(home.home, 'berthd.sock'));
  await assert.rejects(client.call('GET', '/v1/apps/web/events?limit=0'), (err: unknown) => {
    assert.ok(err instanceof ApiError && err.status === 400, String(err));
    assert.match(err.message, /limit must be >= 1/);
    return true;
  });
  assert.ok(noted(pid, 'package').includes('ajv'), 'the schema compiler is loaded once a route needs it');
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
  // The settings and manifest schemas (zod, yaml) are berthd's: the CLI starts without them. Packages
  // it imports are noted by the spy's resolve hook, on a thread of its own: found by the CLI's pid.
  const cliPid = Number(readFileSync(SPY_FILE, 'utf8').match(/^(\d+) berth\.js request/m)?.[1]);
  const packages = noted(cliPid, 'package');
  assert.ok(packages.includes('commander'), `the spy sees the CLI's packages: ${packages.join(' ')}`);
  assert.ok(!packages.includes('zod') && !packages.includes('yaml'), `the CLI loaded: ${packages.join(' ')}`);
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
