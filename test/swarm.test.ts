import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import type { ClusterNodeView, ClusterView } from '../src/core/cluster-results.js';
import type { HealthSpec } from '../src/config/manifest-types.js';
import { SwarmServices, type TaskEndpoint } from '../src/runtime/swarm-services.js';
import { swarmServiceName, swarmServiceSpec, type SwarmIdentity } from '../src/runtime/swarm-spec.js';
import { assertOk, sleep, TestHome, waitFor } from './helpers/home.js';
import { TestSwarm } from './helpers/swarm-cluster.js';
import { ip } from './helpers/swarm-net.js';

/**
 * Berth on a real Docker Swarm: three Debian dockerd in network namespaces joined over veth links
 * (test/helpers/swarm-cluster.ts), Debian's docker-registry on the manager. `berth cluster` end to end
 * through berthd (a home on the manager's engine, one on a worker's), then Swarm services made by Berth's
 * client (src/runtime/swarm-*): placement, drain, and a failed update that Swarm rolls back. Needs root.
 */
const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'needs root: network namespaces and dockerd';
const swarm = ROOT ? new TestSwarm(3) : undefined;
const home = new TestHome('28400-28499');
const workerHome = new TestHome('29700-29799');
let services: SwarmServices;

before(async () => {
  if (!swarm) return;
  await swarm.start(false); // the swarm is made by `berth cluster init` below
  home.env.BERTH_CONTAINER_ENGINE = `unix://${swarm.manager.dockerd.socket}`;
  workerHome.env.BERTH_CONTAINER_ENGINE = `unix://${swarm.nodes[1]!.dockerd.socket}`;
  assertOk(await home.cli('daemon', 'start'));
  assertOk(await workerHome.cli('daemon', 'start'));
  services = swarm.services();
});
after(async () => {
  try {
    await Promise.all([home.cleanup(), workerHome.cleanup()]);
  } finally {
    await swarm?.cleanup();
  }
  if (!swarm) return;
  // Nothing of the swarm is left: no namespace, link, mount, directory or process of it.
  assert.deepEqual(ip(['netns', 'list']).match(new RegExp(`bsw${swarm.net.slot}n\\d`, 'g')), null);
  assert.equal(ip(['link', 'show', swarm.net.bridge], true), '');
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${swarm.dir}/`), 'mounts under the swarm dir');
  assert.ok(!existsSync(swarm.dir), `${swarm.dir} removed`);
  const left = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && cmdline(Number(p)).includes(swarm.dir));
  assert.deepEqual(left, [], 'processes of the swarm left');
});

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

test('berth cluster ls on an engine in no swarm says so and names the command that makes one', { skip }, async () => {
  const r = await home.cli('cluster', 'ls');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /not part of a swarm/);
  assert.match(r.stderr, /berth cluster init/);
});

test(
  'berth cluster init makes a swarm, a worker joins with its token, ls lists the nodes; a worker is no manager',
  { skip },
  async () => {
    const s = swarm!;
    const v = await home.json<ClusterView>('cluster', 'init', '--advertise-addr', s.manager.address);
    assert.equal(v.nodes.length, 1);
    assert.deepEqual([v.nodes[0]!.role, v.nodes[0]!.leader, v.nodes[0]!.self], ['manager', true, true]);
    const again = await home.cli('cluster', 'init', '--advertise-addr', s.manager.address);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already/);

    const token = await home.cli('cluster', 'token', 'worker');
    assertOk(token);
    const n1 = s.nodes[1]!;
    const joined = await workerHome.run(
      ['cluster', 'join', s.manager.address, '--advertise-addr', n1.address, '--token-stdin'],
      { input: token.stdout },
    );
    assertOk(joined, 'join');
    await s.join(s.nodes[2]!, token.stdout.trim()); // the third through the harness, as an existing swarm's node would be
    await s.nameNodes();
    const ls = await home.json<ClusterView>('cluster', 'ls');
    assert.deepEqual(
      ls.nodes.map((n) => [n.name, n.role, n.availability, n.state, n.address]),
      [
        ['n0', 'manager', 'active', 'ready', s.manager.address],
        ['n1', 'worker', 'active', 'ready', n1.address],
        ['n2', 'worker', 'active', 'ready', s.nodes[2]!.address],
      ],
    );
    const human = await home.cli('cluster', 'ls');
    assert.match(human.stdout, /3 node\(s\)/);

    const onWorker = await workerHome.cli('cluster', 'ls');
    assert.notEqual(onWorker.code, 0);
    assert.match(onWorker.stderr, /worker, not a manager/);
    const bad = await home.cli('cluster', 'drain', 'nosuchnode');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no node "nosuchnode"/);
    assert.match(bad.stderr, /berth cluster ls/);
  },
);

const identity = (release: number): SwarmIdentity => ({
  home: 'swarmtest',
  app: 'shop',
  env: 'production',
  service: 'web',
  release,
});
const health: HealthSpec = {
  probe: { kind: 'http', path: '/health', status: undefined },
  startTimeoutMs: 2000,
  intervalMs: 1000,
  unhealthyThreshold: 2,
};
const NAME = swarmServiceName(identity(1));
let v1 = '';

function get(e: TaskEndpoint, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: e.address, port: e.port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function nodeAddresses(): Promise<Map<string, string>> {
  const v = await home.json<ClusterView>('cluster', 'ls');
  return new Map(v.nodes.map((n) => [n.id, n.address]));
}

/** The running tasks once there are `count`, each answering on its node's published port. */
async function running(count: number): Promise<TaskEndpoint[]> {
  const addr = await nodeAddresses();
  return waitFor(
    `${count} running tasks of ${NAME}`,
    async () => {
      const e = await services.endpoints(NAME, addr);
      return e.length === count ? e : undefined;
    },
    120_000,
    250,
  );
}

test(
  "a service of 3 replicas with Berth's labels lands on more than one node and serves from each",
  { skip },
  async () => {
    v1 = await swarm!.publishImage('web', { 'index.html': 'v1', health: 'ok' });
    const spec = swarmServiceSpec({ identity: identity(1), image: v1, replicas: 3, port: 8080, health });
    await services.create(spec, swarm!.login);
    const tasks = await running(3);
    assert.ok(new Set(tasks.map((t) => t.node)).size > 1, `spread over nodes: ${JSON.stringify(tasks)}`);
    for (const t of tasks) assert.deepEqual(await get(t), { status: 200, body: 'v1' });
    const mine = await services.list({ 'berth.home': 'swarmtest', 'berth.app': 'shop' });
    assert.deepEqual(
      mine.map((s) => [s.Spec.Name, s.Spec.Labels['berth.service'], s.Spec.Labels['berth.release']]),
      [[NAME, 'web', '1']],
    );
    const made = (await services.inspect(NAME))!.Spec;
    assert.deepEqual([made.UpdateConfig?.Order, made.UpdateConfig?.FailureAction], ['start-first', 'rollback']);
    assert.deepEqual(made.TaskTemplate.ContainerSpec.Healthcheck?.Test, [
      'CMD',
      'wget',
      '-q',
      '-O',
      '/dev/null',
      'http://127.0.0.1:8080/health',
    ]);
  },
);

test('berth cluster drain moves the tasks off a node; activate lets it take tasks again', { skip }, async () => {
  const before = await running(3);
  const busy = before.find((t) => t.address !== swarm!.manager.address) ?? before[0]!;
  const name = swarm!.nodes.find((n) => n.address === busy.address)!.name;
  const drained = await home.json<ClusterNodeView>('cluster', 'drain', name);
  assert.equal(drained.availability, 'drain');
  const after = await waitFor(
    'the tasks moved off the drained node',
    async () => {
      const e = await running(3);
      return e.every((t) => t.node !== busy.node) ? e : undefined;
    },
    120_000,
    250,
  );
  for (const t of after) assert.equal((await get(t)).body, 'v1');
  const ls = await home.json<ClusterView>('cluster', 'ls');
  assert.equal(ls.nodes.find((n) => n.name === name)?.availability, 'drain');
  assert.equal((await home.json<ClusterNodeView>('cluster', 'activate', name)).availability, 'active');
});

test(
  'an update whose new tasks fail their health check is rolled back by Swarm; the old tasks serve throughout',
  { skip },
  async () => {
    const old = await running(3);
    const bad = await swarm!.publishImage('web-bad', { 'index.html': 'v2' }); // no /health: wget fails
    let requests = 0;
    const failures: string[] = [];
    const loop = { stop: false };
    const load = (async () => {
      while (!loop.stop) {
        for (const t of old) {
          requests++;
          try {
            const r = await get(t);
            if (r.status !== 200 || r.body !== 'v1') failures.push(`${t.address}:${t.port} ${r.status} ${r.body}`);
          } catch (err) {
            failures.push(`${t.address}:${t.port} ${(err as Error).message}`);
          }
        }
        await sleep(20);
      }
    })();
    const current = (await services.inspect(NAME))!;
    await services.update(
      current,
      swarmServiceSpec({ identity: identity(2), image: bad, replicas: 3, port: 8080, health }),
      swarm!.login,
    );
    const outcome = await waitFor(
      'Swarm to roll the update back',
      async () => {
        const o = await services.outcome(NAME);
        return o === 'rolled-back' || o === 'paused' || o === 'completed' ? o : undefined;
      },
      180_000,
      250,
    );
    loop.stop = true;
    await load;
    assert.equal(outcome, 'rolled-back');
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests to the old tasks failed`);
    assert.ok(requests > 10, `requests made: ${requests}`);
    const s = (await services.inspect(NAME))!;
    assert.equal(s.Spec.TaskTemplate.ContainerSpec.Image, v1);
    assert.equal(s.Spec.Labels['berth.release'], '1');
    const now = await running(3);
    assert.deepEqual(now.map((t) => t.task).sort(), old.map((t) => t.task).sort(), 'the same old tasks, never stopped');
  },
);
