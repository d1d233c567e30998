import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { SwarmService } from '../src/runtime/swarm-types.js';
import { assertRecovered, crashingDeploy, startArmed } from './helpers/crash-points.js';
import { assertOk, TestHome, waitFor } from './helpers/home.js';
import { TestSwarm } from './helpers/swarm-cluster.js';
import { startBerthOnSwarm, stopBerthOnSwarm, taskHistory } from './helpers/swarm-home.js';

/**
 * Workers (`port: none` container services) on a real Docker Swarm (two Debian dockerd in network namespaces,
 * test/helpers/swarm-cluster.ts): updated in place, start-first; a failed update rolled back by Swarm, which
 * Berth waits for and confirms without asking for a second rollback; a worker rolled back once by Berth when a
 * later wave fails or when berthd was killed during its update. Needs root.
 */
const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'needs root: network namespaces and dockerd';
const swarm = ROOT ? new TestSwarm(2) : undefined;
const home = new TestHome('22100-22199');

const auth = 'registry_auth: { username: swarm, password_secret: REGISTRY_PASSWORD }';
const worker = (tag: string, strategy = 'recreate') => `  worker:
    image: ${swarm?.registry.address}/worker:${tag}
    ${auth}
    port: none
    strategy: ${strategy}
    replicas: 2
    health: { start_timeout: 4s, interval: 1s, unhealthy_threshold: 2 }
    stop_timeout: 2s
`;
const web = (tag: string) => `  web:
    image: ${swarm?.registry.address}/web:${tag}
    ${auth}
    container_port: 8080
    depends_on: [worker]
    health: { http: /health, start_timeout: 4s, interval: 1s, unhealthy_threshold: 2 }
    routes: [mixed.test]
`;
// The plan starts a running `recreate` service (a worker's default) after every other wave: blue-green puts the
// mixed app's worker in its dependency order, before web (on a swarm it is updated start-first either way).
const mixed = (workerTag: string, webTag: string) =>
  home.app('mixed', `app: mixed\nservices:\n${worker(workerTag, 'blue-green')}${web(webTag)}`);
const jobs = (tag: string) => home.app('jobs', `app: jobs\nservices:\n${worker(tag)}`);

/**
 * A worker image whose own HEALTHCHECK passes while /www/health exists (the one a worker's tasks run on Swarm). Its
 * timeout is 10 s, as Berth gives its own checks (src/runtime/swarm-health.ts): with three swarm files at once (load
 * 25), a check of a healthy task, an exec in its container, can take over a second, and at `--timeout=1s` Swarm killed
 * release 2's healthy tasks during the update test. A missing file still fails the check at once.
 */
async function publishWorker(tag: string, healthy: boolean): Promise<void> {
  const s = swarm!;
  const ref = `${s.registry.address}/worker:${tag}`;
  const ctx = path.join(s.dir, `worker-${tag}`);
  mkdirSync(path.join(ctx, 'www'), { recursive: true });
  copyFileSync('/bin/busybox', path.join(ctx, 'busybox'));
  writeFileSync(path.join(ctx, 'www', 'index.html'), tag);
  if (healthy) writeFileSync(path.join(ctx, 'www', 'health'), 'ok');
  writeFileSync(
    path.join(ctx, 'Dockerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCOPY www /www\n' +
      'HEALTHCHECK --interval=1s --timeout=10s --start-period=2s --retries=2 CMD ["test", "-f", "/www/health"]\n' +
      'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n',
  );
  await s.manager.dockerd.buildTar(ref, ['-c', '-C', ctx, '.']);
  await s.registry.push(s.manager.dockerd.engine, ref);
}

async function publishWeb(tag: string, healthy: boolean): Promise<void> {
  const s = swarm!;
  const ref = `${s.registry.address}/web:${tag}`;
  await s.manager.dockerd.buildImage(ref, { 'index.html': tag, ...(healthy ? { health: 'ok' } : {}) });
  await s.registry.push(s.manager.dockerd.engine, ref);
}

/** The app's worker service on the swarm (one, updated in place by every release). */
async function workerOf(app: string): Promise<SwarmService> {
  const all = await swarm!.services().list({ 'berth.app': app, 'berth.service': 'worker' });
  assert.equal(all.length, 1, `one worker service: ${all.map((s) => s.Spec.Name).join(', ')}`);
  return all[0]!;
}

/** How many tasks of the service run (healthy: the image's check passed) with the spec of `release`. */
async function runningOf(service: string, release: string): Promise<number> {
  const tasks = await swarm!.services().tasks(service, 'running');
  return tasks.filter((t) => t.Status.State === 'running' && t.Spec.ContainerSpec.Labels?.['berth.release'] === release)
    .length;
}

/**
 * The service runs `to`'s spec again after one rollback from `from`: Berth's (`rollback=previous` swaps the specs, so
 * PreviousSpec is `from`'s, and a second one would swap `from` back in) or Swarm's own alone (it leaves no PreviousSpec).
 */
function assertRolledBackOnce(s: SwarmService, from: string, to: string, by: 'berth' | 'swarm'): void {
  assert.equal(s.Spec.Labels['berth.release'], to, 'the previous release runs again');
  assert.equal(s.UpdateStatus?.State, 'rollback_completed', JSON.stringify(s.UpdateStatus));
  const previous = s.PreviousSpec?.Labels['berth.release'];
  if (by === 'berth') assert.equal(previous, from, 'rolled back once, by Berth');
  else assert.equal(previous, undefined, "rolled back by Swarm alone (Berth's rollback would leave the spec it left)");
}

/** The app's worker once the rollback Berth left to Swarm (undo returns when Swarm holds it) completed. */
const rolledBack = (app: string) =>
  waitFor(
    `${app}'s worker rolled back`,
    async () => {
      const s = await workerOf(app);
      return s.UpdateStatus?.State === 'rollback_completed' ? s : undefined;
    },
    120_000,
  );

interface Listing {
  deployments: Array<{ status: string; error: string | null; steps: Array<{ name: string }> }>;
}
const latest = async (app: string) => (await home.json<Listing>('releases', app, '--json')).deployments[0]!;

before(async () => {
  if (!swarm) return;
  await startBerthOnSwarm(home, swarm);
  await Promise.all([
    publishWorker('v1', true),
    publishWorker('v2', true),
    publishWorker('v3', false),
    publishWeb('good', true),
    publishWeb('bad', false),
  ]);
  jobs('v1');
  mixed('v1', 'good');
  for (const app of ['jobs', 'mixed'])
    assertOk(await home.run(['secrets', 'set', app, 'REGISTRY_PASSWORD'], { input: swarm.registry.password }));
});
after(() => stopBerthOnSwarm(home, swarm));

test('a worker is updated in place: the same Swarm service runs the new release', { skip }, async () => {
  assertOk(await home.cli('deploy', jobs('v1')));
  const first = await workerOf('jobs');
  assertOk(await home.cli('deploy', jobs('v2')));
  const now = await workerOf('jobs');
  assert.equal(now.ID, first.ID, 'updated in place');
  assert.equal(now.Spec.Labels['berth.release'], '2');
  assert.equal(now.PreviousSpec?.Labels['berth.release'], '1');
  assert.equal(await runningOf(now.ID, '2'), 2, 'two tasks of release 2 run');
  assert.equal((await latest('jobs')).status, 'succeeded');
});

test("berthd restarted: the worker's task containers keep running, untouched", { skip }, async () => {
  const engine = swarm!.manager.dockerd.engine;
  const filters = encodeURIComponent(JSON.stringify({ label: ['berth.app=jobs'] }));
  const ids = async () =>
    (await engine.call<{ Id: string }[]>('GET', `/containers/json?filters=${filters}`)).map((c) => c.Id).sort();
  const before = await ids();
  assert.ok(before.length > 0, "a task of the worker on the manager's node");
  assertOk(await home.cli('daemon', 'stop'));
  assertOk(await home.cli('daemon', 'start'));
  assert.deepEqual(await ids(), before, 'the same containers run');
});

test(
  'an update whose health check never passes: Swarm rolls it back, release 2 serving throughout',
  { skip },
  async () => {
    const s = await workerOf('jobs');
    let fewest = Infinity;
    const sampling = { on: true };
    const sampler = (async () => {
      while (sampling.on) {
        fewest = Math.min(fewest, await runningOf(s.ID, '2'));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const r = await home.cli('deploy', jobs('v3'));
    sampling.on = false;
    await sampler;
    assert.notEqual(r.code, 0, 'the deploy failed');
    assert.match(r.stdout + r.stderr, /Swarm rolled the update back .*release 2 kept running/);
    assert.doesNotMatch(r.stdout + r.stderr, /additionally/, 'the undo did not fail');
    if (fewest !== 2)
      assert.fail(
        `${fewest} tasks of release 2 ran at one point (2 throughout expected):\n${await taskHistory(swarm!, 'jobs')}`,
      );
    assertRolledBackOnce(await workerOf('jobs'), '3', '2', 'swarm');
    const d = await latest('jobs');
    assert.equal(d.status, 'failed');
    assert.match(d.error ?? '', /Swarm rolled the update back/);
  },
);

test('a later wave fails after the worker updated: Berth rolls the worker back once', { skip }, async () => {
  assertOk(await home.cli('deploy', mixed('v1', 'good')));
  const r = await home.cli('deploy', mixed('v2', 'bad'));
  assert.notEqual(r.code, 0, 'the deploy failed');
  assert.match(r.stdout + r.stderr, /service web on the swarm/);
  assert.doesNotMatch(r.stdout + r.stderr, /additionally/, 'the undo did not fail');
  const s = await rolledBack('mixed');
  assertRolledBackOnce(s, '2', '1', 'berth');
  assert.equal(await runningOf(s.ID, '1'), 2);
  const services = await swarm!.services().list({ 'berth.app': 'mixed' });
  assert.deepEqual(services.map((x) => x.Spec.Labels['berth.release']).sort(), ['1', '1'], "web's release 2 removed");
});

test(
  'berthd killed right after the worker update was requested: the next berthd undoes it once',
  { skip },
  async () => {
    const steps = (await latest('jobs')).steps.map((x) => x.name);
    const wave = steps.findIndex((n) => n.startsWith('start wave'));
    assert.ok(wave > 0, steps.join(', '));
    const before = await workerOf('jobs');
    const was = before.Spec.Labels['berth.release']!;
    assertOk(await home.cli('daemon', 'stop'));
    await startArmed(home, { i: wave, when: 'swarm-requested' }, 'armed');
    await crashingDeploy(home, jobs('v1'), undefined, 'worker update cut off');
    await waitFor('the cut deploy recovered', async () => (await latest('jobs')).status !== 'running', 120_000);
    await assertRecovered(home, 'jobs', false, 'worker update cut off');
    const s = await rolledBack('jobs');
    assert.equal(s.ID, before.ID);
    assertRolledBackOnce(s, '4', was, 'berth');
    await waitFor('two tasks of the previous release run', async () => (await runningOf(s.ID, was)) === 2, 60_000);
  },
);

test(
  'berthd killed right after the routed service was created, the worker updated: both undone',
  { skip },
  async () => {
    const steps = (await latest('mixed')).steps.map((x) => x.name);
    const wave = steps.findIndex((n) => n.startsWith('start wave') && n.includes('web'));
    assert.ok(wave > steps.findIndex((n) => n.includes('worker')), steps.join(', '));
    const before = await workerOf('mixed');
    const was = before.Spec.Labels['berth.release']!;
    assertOk(await home.cli('daemon', 'stop'));
    await startArmed(home, { i: wave, when: 'swarm-requested' }, 'armed');
    await crashingDeploy(home, mixed('v2', 'good'), undefined, 'web start cut off');
    await assertRecovered(home, 'mixed', false, 'web start cut off');
    assertRolledBackOnce(await rolledBack('mixed'), '3', was, 'berth');
    const services = await swarm!.services().list({ 'berth.app': 'mixed' });
    assert.deepEqual(services.map((x) => x.Spec.Labels['berth.release']).sort(), [was, was], "web's release 3 removed");
  },
);
