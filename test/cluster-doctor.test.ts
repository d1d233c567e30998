import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { HealthSpec } from '../src/config/manifest-types.js';
import type { Finding } from '../src/doctor/finding.js';
import { readSwarm } from '../src/doctor/swarm-facts.js';
import { ContainerEngine } from '../src/runtime/container-engine.js';
import { SwarmServices } from '../src/runtime/swarm-services.js';
import { swarmServiceName, swarmServiceSpec, type SwarmServiceOptions } from '../src/runtime/swarm-spec.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { TestSwarm } from './helpers/swarm-cluster.js';

/**
 * `berth doctor` on a real swarm: three Debian dockerd in network namespaces (test/helpers/swarm-cluster.ts),
 * berthd's engine the manager's. Services labelled as Berth labels them (this home's marker in berth.home) are
 * made with Berth's client, each put in one bad state, and doctor must name it with its fix: replicas short,
 * a node without the image, a task crashing again and again, a route to a service with no healthy task, a node
 * drained, a node whose engine stopped. A healthy swarm gives no cluster finding. Needs root.
 */
const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'needs root: network namespaces and dockerd';
const swarm = ROOT ? new TestSwarm(3) : undefined;
const home = new TestHome('22900-22999');
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
let services: SwarmServices;
let image = '';
const marker = createHash('sha256').update(home.home).digest('hex').slice(0, 12);

before(async () => {
  if (!swarm) return;
  await swarm.start();
  home.env.BERTH_CONTAINER_ENGINE = `unix://${swarm.manager.dockerd.socket}`;
  assertOk(await home.cli('daemon', 'start'));
  services = swarm.services();
  image = await swarm.publishImage('web', { 'index.html': 'ok', health: 'ok' });
});
after(async () => {
  try {
    await home.cleanup();
  } finally {
    await swarm?.cleanup();
  }
});

const httpHealth: HealthSpec = {
  probe: { kind: 'http', path: '/health', status: undefined },
  startTimeoutMs: 10_000,
  intervalMs: 3000, // a probe may take 3 s on a loaded host before it counts as failed
  unhealthyThreshold: 3,
};
const processHealth: HealthSpec = { ...httpHealth, probe: { kind: 'process' } };

/** A service as Berth makes it, for this home: app/production/service. */
async function create(
  app: string,
  service: string,
  o: Omit<SwarmServiceOptions, 'identity' | 'health' | 'port'> & { health?: HealthSpec },
): Promise<string> {
  const identity = { home: marker, app, env: 'production', service, release: 1 };
  const health = o.health ?? httpHealth;
  const port = health.probe.kind === 'http' ? 8080 : null;
  await services.create(swarmServiceSpec({ ...o, identity, health, port }), swarm!.login);
  return swarmServiceName(identity);
}

async function clusterFindings(): Promise<Finding[]> {
  const r = await home.cli('doctor', '--json');
  return (JSON.parse(r.stdout) as { findings: Finding[] }).findings.filter((f) => f.code.startsWith('cluster-'));
}

/** Doctor's cluster finding once one has `code`, matches `where` and its message matches `message`. */
async function finding(code: string, where: Partial<Finding>, message = /./): Promise<Finding> {
  const match = (f: Finding) =>
    f.code === code && Object.entries(where).every(([k, v]) => f[k as keyof Finding] === v) && message.test(f.message);
  let seen: Finding[] = [];
  const found = async () => (seen = await clusterFindings()).find(match);
  return waitFor(`doctor to report ${code} ${JSON.stringify(where)}`, found, 240_000, 500).catch((err: Error) => {
    throw new Error(`${err.message}; its cluster findings: ${JSON.stringify(seen, null, 1)}`);
  });
}

async function nodeId(name: string): Promise<string> {
  const n = (await swarm!.manager.swarm.nodes()).find((x) => x.Spec.Name === name);
  assert.ok(n, `node ${name}`);
  return n.ID;
}

/** The engine's calls, counted. */
class CountingEngine extends ContainerEngine {
  readonly paths: string[] = [];
  override call<T>(method: 'GET' | 'POST' | 'DELETE', p: string, body?: unknown): Promise<T> {
    this.paths.push(`${method} ${p.split('?')[0]}`);
    return super.call<T>(method, p, body);
  }
}

test('a healthy swarm running Berth services gives no cluster finding; it is read in 4 calls', { skip }, async () => {
  const web = await create('demo', 'web', { image, replicas: 3 });
  const other = await create('demo', 'other', { image, replicas: 2 });
  await waitFor(
    'their 5 tasks running (healthy)',
    async () => {
      const all = [...(await services.tasks(web, 'running')), ...(await services.tasks(other, 'running'))];
      return all.filter((t) => t.Status.State === 'running').length === 5;
    },
    240_000,
    250,
  );
  assert.deepEqual(await clusterFindings(), []);
  // One list of nodes, services and tasks per run, whatever the number of services.
  const engine = new CountingEngine(swarm!.manager.dockerd.socket);
  const read = await readSwarm(engine, marker);
  engine.close();
  assert.ok(read, 'the engine manages a swarm');
  assert.deepEqual(engine.paths, ['GET /info', 'GET /nodes', 'GET /services', 'GET /tasks']);
  assert.deepEqual(read.services.map((s) => s.Spec.Name).sort(), [other, web].sort());
  assert.equal(read.tasks.filter((t) => t.Status.State === 'running').length, 5);
  assert.equal(read.nodes.length, 3);
  await services.remove(other);
});

test(
  'a service whose running tasks are fewer than its replicas: warning, with why the others wait',
  { skip },
  async () => {
    // One task per node, managers only: one manager, so 1 of 3 runs and 2 wait for a node.
    const name = await create('demo', 'capped', {
      image,
      replicas: 3,
      health: processHealth,
      placement: { constraints: ['node.role==manager'], maxPerNode: 1 },
    });
    const f = await finding('cluster-service-replicas', { app: 'demo', service: 'capped' }, / runs 1 of /);
    assert.equal(f.severity, 'warning', 'one task serves');
    assert.match(
      f.message,
      /demo\/production\/capped runs 1 of its 3 replicas on the swarm \(2 pending: no suitable node/,
    );
    assert.match(f.fix ?? '', /placement in berth\.yaml, then berth deploy demo/);
    await services.remove(name);
  },
);

test(
  'a node without the image (built on the manager only, the task constrained to n1): named with the image',
  { skip },
  async () => {
    await swarm!.manager.dockerd.buildImage('local-only:1', { 'index.html': 'local' });
    const name = await create('demo', 'noimage', {
      image: 'local-only:1',
      replicas: 1,
      health: processHealth,
      placement: { constraints: [`node.id==${await nodeId('n1')}`] },
    });
    const f = await finding('cluster-image-missing', { app: 'demo', service: 'noimage' });
    assert.equal(f.severity, 'error', 'no task of it runs');
    assert.match(f.message, /^node n1 has no image local-only:1 for demo\/production\/noimage and cannot pull it: /);
    assert.match(f.fix ?? '', /registry every node reaches .* check n1 reaches/);
    await services.remove(name);
  },
);

test('a task that crashes again and again: restarting, with the last error Swarm gives', { skip }, async () => {
  const name = await create('demo', 'crash', {
    image,
    replicas: 1,
    health: processHealth,
    command: ['sh', '-c', 'echo boom >&2; exit 3'],
  });
  const f = await finding('cluster-task-restarting', { app: 'demo', service: 'crash' });
  assert.equal(f.severity, 'error', 'none of its tasks runs');
  assert.match(f.message, /demo\/production\/crash: \d+ of its tasks failed in the last 10 min/);
  assert.match(f.message, /non-zero exit \(3\).*\(exit code 3\)/);
  assert.match(f.fix ?? '', /^berth logs demo crash, fix the cause, then berth deploy demo$/);
  await services.remove(name);
});

test("a route of the app's manifest to a Swarm service none of whose tasks is healthy", { skip }, async () => {
  const dir = home.app(
    'shop',
    `app: shop\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [shop.cluster.test]\n`,
  );
  assertOk(await home.cli('deploy', dir));
  const bad = await swarm!.publishImage('web-bad', { 'index.html': 'no health here' }); // wget /health fails
  const name = await create('shop', 'web', { image: bad, replicas: 2 });
  const f = await finding('cluster-route-no-task', { app: 'shop', service: 'web' });
  assert.equal(f.severity, 'error');
  assert.match(f.message, /^route shop\.cluster\.test\/ \(shop\/production\/web\) has no healthy task on the swarm/);
  assert.equal(f.deployFixes, true);
  await services.remove(name);
});

test('a drained node: warning, fixed by berth cluster activate', { skip }, async () => {
  assertOk(await home.cli('cluster', 'drain', 'n2'));
  const f = await finding('cluster-node-unavailable', {});
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /^node n2 \(10\.231\.\d+\.\d+, worker\) is drained/);
  assert.equal(f.fix, 'berth cluster activate n2 (once its maintenance is over)');
  assertOk(await home.cli('cluster', 'activate', 'n2'));
  assert.deepEqual(
    (await clusterFindings()).filter((x) => x.code === 'cluster-node-unavailable'),
    [],
  );
});

test("a node whose engine stopped is reported down, with the swarm's ports to check", { skip }, async () => {
  const n2 = swarm!.nodes[2]!;
  await n2.dockerd.stop();
  const f = await finding('cluster-node-down', {});
  assert.equal(f.severity, 'warning', 'a worker: Swarm moves its tasks');
  assert.match(f.message, /^node n2 \(10\.231\.\d+\.\d+, worker\) is down/);
  assert.match(f.fix ?? '', /2377\/tcp .*7946\/tcp\+udp and 4789\/udp/);
  await n2.dockerd.start();
  await waitFor(
    'n2 back, no node finding',
    async () => !(await clusterFindings()).some((x) => x.code === 'cluster-node-down'),
    240_000,
    500,
  );
});
