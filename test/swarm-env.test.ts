import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { SwarmTask } from '../src/runtime/swarm-types.js';
import { hit } from './helpers/http.js';
import { assertOk, TestHome, waitFor, type CliResult } from './helpers/home.js';
import { TestSwarm } from './helpers/swarm-cluster.js';
import { homeOnSwarm, stopBerthOnSwarm } from './helpers/swarm-home.js';

/**
 * A berth.yaml behaves on a swarm (host setting scheduler: swarm) as on one host: its tasks get the manifest's env,
 * Berth's PORT, the app's secrets (a changed one on the next deploy), a dependency's <NAME>_URL that reaches it on
 * another node (the environment's overlay), `user:`, a pinned service's volume; a dependency on this host and an
 * unpinned volume are refused before anything starts; no secret value in berthd's files or the CLI's output.
 * Three Debian dockerd in network namespaces (test/helpers/swarm-cluster.ts); busybox httpd's CGI shows the env.
 */
const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'needs root: network namespaces and dockerd';
const swarm = ROOT ? new TestSwarm(3) : undefined;
const home = new TestHome('22800-22899');
const P = home.httpPort;
const HOST = 'env.test';
const SECRET_1 = `canary-one-${randomBytes(8).toString('hex')}`;
const SECRET_2 = `canary-two-${randomBytes(8).toString('hex')}`;
const outputs: CliResult[] = [];

/** The CLI, its output kept for the leak check at the end. */
async function cli(args: readonly string[], input?: string): Promise<CliResult> {
  const r = await home.run(args, input === undefined ? {} : { input });
  outputs.push(r);
  return r;
}

/** A CGI script answering what `cmd` prints, with its length: the builtin edge reads no close-delimited answer. */
const CGI = (cmd: string) =>
  `#!/bin/sh\nbody=$(${cmd})\nprintf 'Content-Type: text/plain\\r\\nContent-Length: %d\\r\\n\\r\\n%s' "\${#body}" "$body"\n`;
const IMAGE = () => `${swarm?.registry.address}/envweb:v1`;
const container = (extra: string) => `    image: ${IMAGE()}
    registry_auth: { username: swarm, password_secret: REGISTRY_PASSWORD }
    container_port: 8080
    health: { http: /health, start_timeout: 4s, interval: 1s, unhealthy_threshold: 2 }
${extra}`;

let nodeIds: Record<string, string> = {};
const manifest = () => `app: envapp
services:
  api:
${container(`    env: { ROLE: api-on-n2 }
    placement: { constraints: ["node.id==${nodeIds.n2}"] }
`)}  web:
${container(`    env: { GREETING: hello-from-berth-yaml }
    user: "1234:1234"
    depends_on: [api]
    volumes: { /data: media }
    placement: { constraints: ["node.id==${nodeIds.n1}"] }
    routes: [${HOST}]
`)}`;

/** What the web task's CGI sees: `uid=<n>` then its environment, one VAR=value a line. */
async function webEnv(): Promise<Map<string, string>> {
  const r = await hit(P, HOST, '/cgi-bin/env');
  assert.equal(r.status, 200, `GET /cgi-bin/env: ${r.status} ${r.text()}`);
  return new Map(
    r
      .text()
      .split('\n')
      .flatMap((l) => (l.includes('=') ? [[l.split('=')[0]!, l.slice(l.indexOf('=') + 1)]] : [])),
  );
}

async function runningTasks(service: string): Promise<SwarmTask[]> {
  const filters = JSON.stringify({
    'desired-state': ['running'],
    label: ['berth.app=envapp', `berth.service=${service}`],
  });
  const tasks = await swarm!.manager.dockerd.engine.call<SwarmTask[]>(
    'GET',
    `/tasks?filters=${encodeURIComponent(filters)}`,
  );
  return tasks.filter((t) => t.Status.State === 'running');
}

before(async () => {
  if (!swarm) return;
  await swarm.start();
  nodeIds = Object.fromEntries((await swarm.manager.swarm.nodes()).map((n) => [n.Spec.Name ?? '', n.ID]));
  homeOnSwarm(home, swarm);
  assertOk(await cli(['daemon', 'start']));
  const ref = IMAGE();
  await swarm.manager.dockerd.buildImage(ref, {
    health: 'ok',
    'cgi-bin/env': CGI('echo "uid=$(id -u)"; env'),
    // wget's own error too (and nslookup's when it fails): a failed try says whether the name or the address failed.
    'cgi-bin/peer': CGI(
      'wget -q -O - "$API_URL/cgi-bin/env" 2>&1 || { echo "wget: exit $?"; h=${API_URL#http://}; nslookup "${h%:*}" 2>&1; }',
    ),
  });
  await swarm.registry.push(swarm.manager.dockerd.engine, ref);
  home.app('envapp', manifest());
  assertOk(await cli(['secrets', 'set', 'envapp', 'REGISTRY_PASSWORD'], swarm.registry.password));
  assertOk(await cli(['secrets', 'set', 'envapp', 'API_TOKEN'], SECRET_1));
});
after(() => stopBerthOnSwarm(home, swarm));

test(
  "a task gets the manifest's env, PORT, the app's secret and user: as a container on one host does",
  { skip },
  async () => {
    assertOk(await cli(['deploy', home.app('envapp', manifest())]));
    const env = await webEnv();
    assert.equal(env.get('GREETING'), 'hello-from-berth-yaml');
    assert.equal(env.get('PORT'), '8080');
    assert.equal(env.get('API_TOKEN'), SECRET_1);
    assert.equal(env.get('uid'), '1234', 'user: "1234:1234" is the task\'s user');
    assert.equal(env.get('BERTH_INSTANCE'), undefined, 'no instance marker of this host in a task');
  },
);

test("a dependency's <NAME>_URL reaches it from another node, over the environment's overlay", { skip }, async (t) => {
  const [web] = await runningTasks('web');
  const [api] = await runningTasks('api');
  assert.deepEqual([web?.NodeID, api?.NodeID], [nodeIds.n1, nodeIds.n2], 'web on n1, api on n2');
  assert.match((await webEnv()).get('API_URL') ?? '', /^http:\/\/berth-[0-9a-f]{8}-envapp-production-api-r\d+:8080$/);
  // Swarm spreads a new service's name to the other nodes by gossip: under CI's load web's node once did not resolve
  // it yet right after the deploy. So this waits (each try's answer kept, so a timeout says why) and says how long.
  let tries = 0;
  const r = await waitFor(
    'web to reach api through API_URL',
    async () => {
      tries++;
      const got = await hit(P, HOST, '/cgi-bin/peer');
      if (got.status !== 200 || !/^ROLE=api-on-n2$/m.test(got.text())) throw new Error(`${got.status} ${got.text()}`);
      return got;
    },
    60_000,
    250,
  );
  if (tries > 1) t.diagnostic(`web reached api at try ${tries}`);
  assert.match(r.text(), /^ROLE=api-on-n2$/m);
});

test("a pinned service's volume is a named volume of its node, mounted in its task", { skip }, async () => {
  const volumes = async (n: number) =>
    (await swarm!.nodes[n]!.dockerd.engine.call<{ Volumes: { Name: string }[] | null }>('GET', '/volumes')).Volumes ??
    [];
  assert.ok(
    (await volumes(1)).some((v) => /^berth-[0-9a-f]{8}-envapp-production_media$/.test(v.Name)),
    'on n1',
  );
  assert.ok(!(await volumes(2)).some((v) => v.Name.endsWith('_media')), 'not on n2');
  const filters = encodeURIComponent(JSON.stringify({ label: ['berth.app=envapp', 'berth.service=web'] }));
  const [web] = await swarm!.nodes[1]!.dockerd.engine.call<
    { Mounts: { Type: string; Name?: string; Destination: string }[] }[]
  >('GET', `/containers/json?filters=${filters}`);
  assert.deepEqual(
    web?.Mounts.map((m) => [m.Type, m.Name?.replace(/^berth-[0-9a-f]{8}-/, ''), m.Destination]),
    [['volume', 'envapp-production_media', '/data']],
  );
});

test('a changed secret reaches the tasks on the next deploy', { skip }, async () => {
  assertOk(await cli(['secrets', 'set', 'envapp', 'API_TOKEN'], SECRET_2));
  assertOk(await cli(['deploy', home.app('envapp', manifest())]));
  assert.equal((await webEnv()).get('API_TOKEN'), SECRET_2);
});

test(
  'a dependency on this host and an unpinned volume are refused before anything starts, naming the fix',
  { skip },
  async () => {
    const hostDep = `app: hostdep\nservices:\n  cache:\n    run: "exec sleep 600"\n  web:\n${container('    depends_on: [cache]\n')}`;
    const r = await cli(['deploy', home.app('hostdep', hostDep)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /service web runs on the swarm and depends on cache, which Berth runs on this host/);
    assert.match(r.stderr, /run cache from an image .* or set services\.web\.env\.CACHE_URL/);
    const unpinned = `app: vol\nservices:\n  web:\n${container('    volumes: { /data: media }\n')}`;
    const v = await cli(['deploy', home.app('vol', unpinned)]);
    assert.notEqual(v.code, 0);
    assert.match(v.stderr, /service web: volume media \(\/data\) would be a separate, empty volume on each node/);
    assert.match(v.stderr, /pin the service to one node/);
    const started = await swarm!.services().list({});
    assert.deepEqual(
      started.map((s) => s.Spec.Labels['berth.app']).filter((a) => a !== 'envapp'),
      [],
      'no service of theirs',
    );
  },
);

test("no secret value in berthd's log, the journal (the store) or any CLI output", { skip }, async () => {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : e.isFile() ? [path.join(dir, e.name)] : [],
    );
  const written = files(home.home).filter((f) => !f.endsWith('secrets.key'));
  assert.ok(written.some((f) => f.endsWith('berthd.log')) && written.some((f) => f.endsWith('berth.db')));
  for (const s of [SECRET_1, SECRET_2]) {
    assert.deepEqual(
      written.filter((f) => readFileSync(f).includes(s)),
      [],
      `${s} in no file of berthd`,
    );
    assert.ok(!outputs.some((o) => (o.stdout + o.stderr).includes(s)), `${s} in no CLI output`);
  }
});
