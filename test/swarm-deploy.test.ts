import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { loadavg } from 'node:os';
import { after, before, test } from 'node:test';
import type { SwarmTask } from '../src/runtime/swarm-types.js';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, TestHome, waitFor } from './helpers/home.js';
import { TestSwarm } from './helpers/swarm-cluster.js';
import { statusScript } from './helpers/proxy-process.js';
import { publishWeb, startBerthOnSwarm, stopBerthOnSwarm, taskHistory, webApp } from './helpers/swarm-home.js';

/**
 * `berth deploy` onto a real Docker Swarm (host setting scheduler: swarm): three Debian dockerd in network
 * namespaces (test/helpers/swarm-cluster.ts), the images in Debian's docker-registry on the manager, berthd on
 * the manager's engine with its builtin edge on this host routing to the healthy tasks' published ports.
 * Deploys and a drained node under wrk load through the edge, a failed deploy, a rollback by digest. Needs root.
 */
const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'needs root: network namespaces and dockerd';
const swarm = ROOT ? new TestSwarm(3) : undefined;
const home = new TestHome('32700-32767');
const P = home.httpPort;
const HOST = 'shop.test';

/** Serves /www; on SIGTERM it keeps serving 2 s (the edge stops routing to it first), then stops. */
const RUN = "trap 'sleep 2; kill $p' TERM; httpd -f -p 8080 -h /www & p=$!; wait $p; wait $p";
const manifest = (tag: string) => webApp(swarm, { app: 'shop', tag, run: RUN, routes: `[${HOST}]` });
const deploy = (tag: string) => home.cli('deploy', home.app('shop', manifest(tag)));

/** The tasks of this home's services that run, with their service's release label. */
async function runningTasks(): Promise<SwarmTask[]> {
  const tasks = await swarm!.manager.dockerd.engine.call<SwarmTask[]>(
    'GET',
    `/tasks?filters=${encodeURIComponent(JSON.stringify({ 'desired-state': ['running'], label: ['berth.app=shop'] }))}`,
  );
  return tasks.filter((t) => t.Status.State === 'running');
}

/** Every task of shop Swarm keeps on a node, whatever its state. */
function tasksOn(node: string): Promise<SwarmTask[]> {
  const filters = JSON.stringify({ node: [node], label: ['berth.app=shop'] });
  return swarm!.manager.dockerd.engine.call<SwarmTask[]>('GET', `/tasks?filters=${encodeURIComponent(filters)}`);
}

interface WrkResult {
  readonly requests: number;
  readonly failures: string[];
  readonly text: string;
}

/** wrk through the edge until `stop` (SIGINT: wrk prints its counts), bounded to 10 minutes. */
function load(): { stop: () => Promise<WrkResult> } {
  const args = ['-t1', '-c4', '-d600s', '-s', statusScript(home.root), '-H', `Host: ${HOST}`, `http://127.0.0.1:${P}/`];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += String(c)));
  child.stderr.on('data', (c: Buffer) => (text += String(c)));
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    stop: async () => {
      child.kill('SIGINT');
      await done;
      const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
      const failures = text.split('\n').filter((l) => /Non-2xx|Socket errors/.test(l));
      return { requests, failures, text };
    },
  };
}

/** No failed request; else wrk's counts, `more`, and every task of shop Swarm keeps (which failed, when). */
async function assertNoFailure(r: WrkResult, more = ''): Promise<void> {
  if (r.failures.length === 0) return;
  assert.fail(`${r.text}\n${more}\nshop's tasks:\n${await taskHistory(swarm!, 'shop')}`);
}

const serves = async () => {
  const r = await hit(P, HOST, '/');
  return r.status === 200 ? r.text() : `${r.status}`;
};

before(async () => {
  if (!swarm) return;
  await startBerthOnSwarm(home, swarm);
  await Promise.all([
    publishWeb(swarm, 'v1', 'v1'),
    publishWeb(swarm, 'v2', 'v2'),
    publishWeb(swarm, 'bad', 'bad', false),
  ]);
  home.app('shop', manifest('v1'));
  assertOk(await home.run(['secrets', 'set', 'shop', 'REGISTRY_PASSWORD'], { input: swarm.registry.password }));
});
after(() => stopBerthOnSwarm(home, swarm));

test('an app of 3 replicas deploys onto the swarm, spread over its nodes, routed by the edge', { skip }, async () => {
  assertOk(await deploy('v1'));
  const tasks = await runningTasks();
  assert.equal(tasks.length, 3);
  assert.ok(new Set(tasks.map((t) => t.NodeID)).size > 1, `spread over nodes: ${tasks.map((t) => t.NodeID).join(' ')}`);
  assert.equal(await serves(), 'v1');
  const services = await swarm!.services().list({ 'berth.app': 'shop' });
  assert.deepEqual(
    services.map((s) => [s.Spec.Labels['berth.service'], s.Spec.Labels['berth.release']]),
    [['web', '1']],
  );
  assert.match(services[0]!.Spec.TaskTemplate.ContainerSpec.Image, /\/web@sha256:[0-9a-f]{64}$/, 'pinned by digest');
});

test('10 deploys under wrk load through the edge: 0 failed requests', { skip }, async (t) => {
  const wrk = load();
  let r: WrkResult;
  const when: string[] = []; // each deploy's start and end (unix seconds), to read wrk's failures by
  try {
    for (let i = 0; i < 10; i++) {
      const tag = i % 2 === 0 ? 'v2' : 'v1';
      const start = Math.floor(Date.now() / 1000);
      assertOk(await deploy(tag), `deploy ${i + 1}`);
      when.push(`deploy ${i + 1}: ${start}-${Math.floor(Date.now() / 1000)}`);
      assert.equal(await serves(), tag);
    }
  } finally {
    r = await wrk.stop();
  }
  t.diagnostic(`${r.requests} requests through the edge, load average ${loadavg()[0]?.toFixed(1)}`);
  await assertNoFailure(r, when.join('\n'));
  assert.ok(r.requests > 100, r.text);
  assert.equal((await swarm!.services().list({ 'berth.app': 'shop' })).length, 1, 'the old releases removed');
});

test('a worker node drained under wrk load: its tasks move, 0 failed requests', { skip }, async (t) => {
  const tasks = await runningTasks();
  const manager = (await swarm!.manager.swarm.info()).NodeID;
  const busy = tasks.find((t) => t.NodeID !== manager)!;
  const node = (await swarm!.manager.swarm.nodes()).find((n) => n.ID === busy.NodeID)!.Spec.Name as string;
  const wrk = load();
  let r: WrkResult;
  try {
    assertOk(await home.cli('cluster', 'drain', node));
    await waitFor(
      'three tasks running off the drained node',
      async () => {
        const now = await runningTasks();
        return now.length === 3 && now.every((t) => t.NodeID !== busy.NodeID);
      },
      120_000,
      250,
    );
    await waitFor(
      "the drained node's task stopped",
      async () => (await tasksOn(busy.NodeID!)).every((t) => t.Status.State !== 'running'),
      60_000,
      100,
    );
    // Its container is gone: an edge still routing to it would fail one request in three from here.
    for (let i = 0; i < 30; i++) assert.equal(await serves(), 'v1');
  } finally {
    r = await wrk.stop();
  }
  assertOk(await home.cli('cluster', 'activate', node));
  t.diagnostic(`${r.requests} requests through the edge, load average ${loadavg()[0]?.toFixed(1)}`);
  await assertNoFailure(r);
  assert.ok(r.requests > 100, r.text);
});

test('a deploy whose new tasks never get healthy fails, the old release serving throughout', { skip }, async () => {
  const wrk = load();
  const r = await deploy('bad');
  const w = await wrk.stop();
  assert.notEqual(r.code, 0, 'the deploy failed');
  assert.match(r.stdout + r.stderr, /on the swarm: a task failed|tasks healthy in time/);
  await assertNoFailure(w);
  assert.equal(await serves(), 'v1');
  const services = await swarm!.services().list({ 'berth.app': 'shop' });
  assert.deepEqual(
    services.map((s) => s.Spec.Labels['berth.release']),
    ['11'],
    'the new service removed',
  );
  const releases = await home.json<{ deployments: Array<{ status: string }> }>('releases', 'shop', '--json');
  assert.equal(releases.deployments[0]?.status, 'failed');
});

test(
  'berthd killed after a swarm wave started: the restarted berthd undoes it, the old release serving',
  { skip },
  async () => {
    interface Listing {
      deployments: Array<{ status: string; steps: Array<{ name: string }> }>;
    }
    const steps = (await home.json<Listing>('releases', 'shop', '--json')).deployments[0]!.steps.map((x) => x.name);
    const wave = steps.findIndex((n) => n.startsWith('start wave'));
    assert.ok(wave > 0, steps.join(', '));
    const labels = async () =>
      (await swarm!.services().list({ 'berth.app': 'shop' })).map((x) => x.Spec.Labels['berth.release']).sort();
    const before = await labels();
    const was = await serves();
    assertOk(await home.cli('daemon', 'stop'));
    assertOk(await home.run(['daemon', 'start'], { env: { ...home.env, BERTH_CRASH_AT: `${wave}:after` } }));
    const daemon = home.daemonPid()!;
    const cut = await deploy(was === 'v2' ? 'v1' : 'v2');
    assert.notEqual(cut.code, 0, 'the deploy was cut off');
    await waitFor('berthd dead', () => !isAlive(daemon), 10_000);
    assert.equal((await labels()).length, before.length + 1, 'the new release had its Swarm service when berthd died');
    assertOk(await home.cli('daemon', 'start'));
    const status = await waitFor(
      'the deploy recovered',
      async () => {
        const d = (await home.json<Listing>('releases', 'shop', '--json')).deployments[0]!;
        return d.status === 'running' ? undefined : d.status;
      },
      60_000,
    );
    assert.notEqual(status, 'succeeded');
    assert.deepEqual(await labels(), before, "the new release's Swarm service removed");
    await waitFor('the edge serves the old release', async () => (await serves()) === was, 30_000, 100);
  },
);

test('berth rollback deploys the recorded image digest of the release before', { skip }, async () => {
  const before = (await swarm!.services().list({ 'berth.app': 'shop' }))[0]!;
  assertOk(await home.cli('rollback', 'shop'));
  const now = await swarm!.services().list({ 'berth.app': 'shop' });
  assert.equal(now.length, 1);
  const image = now[0]!.Spec.TaskTemplate.ContainerSpec.Image;
  assert.match(image, /\/web@sha256:[0-9a-f]{64}$/);
  assert.notEqual(image, before.Spec.TaskTemplate.ContainerSpec.Image);
  assert.equal(await serves(), 'v2');
});

test('an image built by berth is pushed to the swarm registry and runs there by its digest', { skip }, async () => {
  const dir = home.app(
    'crate',
    `app: crate
services:
  web:
    build: { dockerfile: Dockerfile }
    container_port: 8080
    replicas: 2
    health: { http: /health, start_timeout: 4s, interval: 1s }
    drain: 1s
    routes: [crate.test]
`,
    {
      Dockerfile:
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n',
      'www/index.html': 'built',
      'www/health': 'ok',
    },
  );
  copyFileSync('/bin/busybox', path.join(dir, 'busybox'));
  assertOk(await home.cli('deploy', dir));
  const [service] = await swarm!.services().list({ 'berth.app': 'crate' });
  assert.match(
    service!.Spec.TaskTemplate.ContainerSpec.Image,
    new RegExp(`^${swarm!.registry.address}/berth-[0-9a-f]{8}-crate-production@sha256:[0-9a-f]{64}$`),
  );
  assert.equal((await hit(P, 'crate.test', '/')).text(), 'built');
});
