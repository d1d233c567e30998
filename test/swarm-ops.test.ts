import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { after, before, test } from 'node:test';
import type { InstanceStatus } from '../src/core/results.js';
import type { SwarmTask } from '../src/runtime/swarm-types.js';
import { hit } from './helpers/http.js';
import { assertOk, BIN, TestHome, waitFor } from './helpers/home.js';
import { TestSwarm } from './helpers/swarm-cluster.js';
import { startBerthOnSwarm, stopBerthOnSwarm, taskHistory } from './helpers/swarm-home.js';

/**
 * `berth ps` and `berth logs` of an app on a real Docker Swarm (host setting scheduler: swarm; the cluster of
 * test/helpers/swarm-cluster.ts): its tasks listed like host instances, with their node, state, health and the
 * address the edge routes to; a killed task with Swarm's error; the tasks' output with each line's slot and node,
 * also followed; `berth env rm` and `berth rm` take the Swarm services and overlay network of what they remove
 * with them. Needs root.
 */
const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'needs root: network namespaces and dockerd';
const swarm = ROOT ? new TestSwarm(3) : undefined;
const home = new TestHome('25200-25299');
const P = home.httpPort;
const HOST = 'ops.test';

/** Each task says hello as it starts; /cgi-bin/say?<word> makes the task that answers write `said <word>`. */
const SAY = '#!/bin/sh\necho "said $QUERY_STRING" >&2\nprintf "Content-Type: text/plain\\r\\n\\r\\nok\\n"\n';
/** Production: 3 replicas behind HOST; another environment: one, with no route. */
const manifest = (production = true) => `app: ops
services:
  web:
    image: ${swarm?.registry.address}/ops:v1
    registry_auth: { username: swarm, password_secret: REGISTRY_PASSWORD }
    container_port: 8080
    replicas: ${production ? 3 : 1}
    placement: { spread: node, max_per_node: 1 }
    run: "echo hello from a task; exec httpd -f -p 8080 -h /www"
    health: { http: /health, start_timeout: 4s, interval: 1s, unhealthy_threshold: 2 }
    drain: 1s
${production ? `    routes: [${HOST}]\n` : ''}`;

const ps = () => home.json<InstanceStatus[]>('ps', 'ops');
const running = (rows: readonly InstanceStatus[]) => rows.filter((r) => r.state === 'running');

before(async () => {
  if (!swarm) return;
  await startBerthOnSwarm(home, swarm);
  const ref = `${swarm.registry.address}/ops:v1`;
  await swarm.manager.dockerd.buildImage(ref, { 'index.html': 'ops', health: 'ok', 'cgi-bin/say': SAY });
  await swarm.registry.push(swarm.manager.dockerd.engine, ref);
  assertOk(await home.run(['secrets', 'set', 'ops', 'REGISTRY_PASSWORD'], { input: swarm.registry.password }));
  assertOk(await home.cli('deploy', home.app('ops', manifest())));
});
after(() => stopBerthOnSwarm(home, swarm));

test(
  'berth ps lists the 3 tasks on their nodes with the release, health and the address the edge uses',
  { skip },
  async (t) => {
    const rows = running(await ps());
    assert.equal(rows.length, 3, JSON.stringify(rows));
    assert.deepEqual(rows.map((r) => r.swarm?.node).sort(), ['n0', 'n1', 'n2']);
    const byNode = new Map(swarm!.nodes.map((n) => [n.name, n.address]));
    for (const r of rows) {
      assert.equal(r.kind, 'swarm');
      assert.equal(r.service, 'web');
      assert.equal(r.release, 1);
      assert.equal(r.current, true);
      const sw = r.swarm!;
      assert.equal(sw.health, 'healthy');
      assert.equal(sw.address, `${byNode.get(sw.node)}:${r.port}`);
      // The edge's upstream: the task answers there.
      assert.equal(await (await fetch(`http://${sw.address}/`)).text(), 'ops');
    }
    assert.deepEqual(rows.map((r) => r.instance).sort(), [1, 2, 3]);
    const text = await home.cli('ps', 'ops');
    assertOk(text);
    assert.match(text.stdout, /NODE/);
    assert.equal(text.stdout.match(/running \(healthy\)/g)?.length, 3, text.stdout);
    t.diagnostic(`${text.stdout}\nload average ${loadavg()[0]?.toFixed(1)}`);
    assert.equal((await hit(P, HOST, '/')).text(), 'ops');
  },
);

test('a killed task shows up in berth ps as failed, with Swarm error, beside its replacement', { skip }, async () => {
  const n1 = swarm!.nodes[1]!;
  const filters = JSON.stringify({ 'desired-state': ['running'], label: ['berth.app=ops'] });
  const tasks = await swarm!.manager.dockerd.engine.call<SwarmTask[]>(
    'GET',
    `/tasks?filters=${encodeURIComponent(filters)}`,
  );
  const [nodeId] = (await swarm!.manager.swarm.nodes()).filter((n) => n.Spec.Name === 'n1').map((n) => n.ID);
  const victim = tasks.find((t) => t.NodeID === nodeId)!;
  await n1.dockerd.engine.call('POST', `/containers/${victim.Status.ContainerStatus!.ContainerID}/kill`);
  const failed = await waitFor(
    'the killed task failed in berth ps',
    async () => (await ps()).find((r) => r.swarm?.task === victim.ID && r.state === 'failed'),
    60_000,
    250,
  );
  assert.match(failed.swarm?.error ?? '', /non-zero exit \(137\)/);
  assert.equal(failed.swarm?.node, 'n1');
  assert.equal(failed.lastExit?.code, 137);
  const text = await home.cli('ps', 'ops');
  assert.match(text.stdout, /failed.*non-zero exit \(137\)/, text.stdout);
  const back = await waitFor('three tasks running again', async () => {
    const rows = await ps();
    return running(rows).length === 3 ? rows : undefined;
  });
  const slot = back.find((r) => r.state === 'running' && r.instance === failed.instance)!;
  assert.ok(slot.restarts >= 1, JSON.stringify(slot));
});

test('berth logs prints what each task wrote, with its slot and node', { skip }, async (t) => {
  const r = await home.cli('logs', 'ops');
  assertOk(r);
  t.diagnostic(r.stdout);
  const hellos = r.stdout.split('\n').filter((l) => l.endsWith('| hello from a task'));
  const nodes = new Set(hellos.map((l) => /^web\[\d\]@(n\d) \|/.exec(l)?.[1]));
  assert.deepEqual([...nodes].sort(), ['n0', 'n1', 'n2'], r.stdout);
  const json = await home.cli('logs', 'ops', 'web', '--json', '-n', '1');
  assertOk(json);
  const lines = json.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(lines.length >= 3, json.stdout);
  assert.equal(new Set(lines.map((l) => l.task)).size, lines.length, 'one line per task with -n 1');
  for (const l of lines) assert.ok(l.service === 'web' && typeof l.node === 'string' && /^n\d$/.test(l.node));
});

test('berth logs -f prints a line a task writes after it started', { skip }, async () => {
  const follower = spawn(process.execPath, [BIN, 'logs', 'ops', '-f', '-n', '0'], { env: home.env });
  let out = '';
  follower.stdout.on('data', (c: Buffer) => (out += String(c)));
  try {
    let i = 0;
    const line = await waitFor(
      'a line written after the follow began',
      async () => {
        await hit(P, HOST, `/cgi-bin/say?word${++i}`);
        return out.split('\n').find((l) => /^web\[\d\]@n\d \| said word\d+$/.test(l));
      },
      30_000,
      300,
    );
    assert.ok(!/hello from a task/.test(out), `-n 0: none of the earlier lines\n${out}`);
    assert.ok(line);
  } finally {
    follower.kill();
  }
});

/** The manager's Swarm services or networks of app ops (of one environment). */
async function onSwarm(what: 'services' | 'networks', env?: string): Promise<string[]> {
  const label = ['berth.home', 'berth.app=ops', ...(env ? [`berth.env=${env}`] : [])];
  const filters = encodeURIComponent(JSON.stringify({ label }));
  const list = await swarm!.manager.dockerd.engine.call<{ Name?: string; Spec?: { Name: string } }[]>(
    'GET',
    `/${what}?filters=${filters}`,
  );
  return list.map((x) => x.Spec?.Name ?? x.Name ?? '?');
}

test(
  'berth env rm and berth rm remove the Swarm services and the overlay network of what they remove',
  { skip },
  async () => {
    assertOk(await home.cli('deploy', home.app('ops', manifest(false)), '--env', 'staging'));
    assert.equal((await onSwarm('services', 'staging')).length, 1);
    assert.equal((await onSwarm('networks', 'staging')).length, 1, 'the environment has its overlay');
    assertOk(await home.cli('env', 'rm', 'ops', 'staging', '--force'));
    assert.deepEqual(await onSwarm('services', 'staging'), [], 'no service of the removed environment is left running');
    assert.deepEqual(await onSwarm('networks', 'staging'), [], 'nor its overlay');
    // Production is untouched: its three tasks run and answer.
    assert.equal((await onSwarm('services', 'production')).length, 1);
    const tasks = running(await ps()).length;
    if (tasks !== 3)
      assert.fail(`${tasks} of production's 3 tasks run; ops's tasks:\n${await taskHistory(swarm!, 'ops')}`);
    assert.equal((await hit(P, HOST, '/')).status, 200);

    assertOk(await home.cli('rm', 'ops'));
    assert.deepEqual(await onSwarm('services'), [], 'berth rm leaves no service of the app');
    assert.deepEqual(await onSwarm('networks'), [], 'nor a network');
    const pruned = await home.cli('images', 'prune');
    assertOk(pruned);
    assert.doesNotMatch(pruned.stdout, /Swarm service/, 'nothing was left for prune');
  },
);
