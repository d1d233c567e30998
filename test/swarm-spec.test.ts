import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HealthSpec } from '../src/config/manifest-types.js';
import { BerthError } from '../src/core/errors.js';
import { fatalTask, swarmHealthcheck, updatePolicies } from '../src/runtime/swarm-health.js';
import type { SwarmTask } from '../src/runtime/swarm-types.js';
import { swarmServiceName, swarmServiceSpec } from '../src/runtime/swarm-spec.js';

/** How Berth's service becomes a Swarm service's spec (pure; test/swarm.test.ts runs them on a real swarm). */
const health = (probe: HealthSpec['probe']): HealthSpec => ({
  probe,
  startTimeoutMs: 60_000,
  intervalMs: 10_000,
  unhealthyThreshold: 3,
});
const S = 1_000_000_000;

test('an http check becomes the container healthcheck: wget of the path on its port, with interval, start period, retries', () => {
  assert.deepEqual(swarmHealthcheck('api', health({ kind: 'http', path: '/up', status: undefined }), 3000), {
    Test: ['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:3000/up'],
    Interval: 10 * S,
    Timeout: 10 * S,
    Retries: 3,
    StartPeriod: 60 * S,
  });
  // A short interval does not shorten the time a check may take: inside a task it is an exec, slow on a loaded node.
  const often = swarmHealthcheck(
    'api',
    { ...health({ kind: 'http', path: '/up', status: undefined }), intervalMs: 1000 },
    3000,
  );
  assert.deepEqual([often?.Interval, often?.Timeout], [1 * S, 10 * S]);
  // A worker's tasks run the image's own HEALTHCHECK, if it has one: Berth sets none (not NONE, which disables it).
  assert.equal(swarmHealthcheck('worker', health({ kind: 'process' }), null), undefined);
});

test('checks Swarm cannot run in any image are refused with the way out, never assumed healthy', () => {
  for (const probe of [{ kind: 'tcp' }, { kind: 'listening' }, { kind: 'postgres' }] as const)
    assert.throws(
      () => swarmHealthcheck('api', health(probe), 3000),
      (err: unknown) =>
        err instanceof BerthError &&
        /services\.api\.health/.test(err.message) &&
        /health: \{ http/.test(err.hint ?? ''),
    );
  assert.throws(
    () => swarmHealthcheck('api', health({ kind: 'http', path: '/', status: 404 }), 3000),
    /any 2xx answer/,
  );
});

test('updates are start-first and rolled back by Swarm on one failed task, watched as long as a check takes to fail', () => {
  const p = updatePolicies(health({ kind: 'http', path: '/', status: undefined }));
  assert.deepEqual(p.update, {
    Parallelism: 1,
    FailureAction: 'rollback',
    Monitor: (60 + 10 * 4) * S,
    MaxFailureRatio: 0,
    Order: 'start-first',
  });
  assert.equal(p.rollback.Order, 'start-first');
  assert.equal(updatePolicies(health({ kind: 'process' }), { order: 'stop-first' }).update.Order, 'stop-first');
});

test("service names are DNS labels of at most 63 characters, distinct per home, app, env and service; labels carry Berth's identity", () => {
  const id = { home: 'abcdef0123456789', app: 'shop', env: 'production', service: 'web' };
  assert.equal(swarmServiceName(id), 'berth-abcdef01-shop-production-web');
  const long = { ...id, app: 'a'.repeat(40), env: 'preview-feature-branch' };
  const name = swarmServiceName(long);
  assert.ok(name.length <= 63 && /^[a-z0-9-]+$/.test(name), name);
  assert.notEqual(name, swarmServiceName({ ...long, service: 'api' }));
  const spec = swarmServiceSpec({
    identity: { ...id, release: 7 },
    image: 'registry.example:5000/shop@sha256:' + '0'.repeat(64),
    replicas: 3,
    port: 8080,
    health: health({ kind: 'http', path: '/', status: undefined }),
    placement: { constraints: ['node.labels.zone==a'], spread: 'node.labels.rack' },
  });
  assert.deepEqual(spec.Labels, {
    'berth.home': id.home,
    'berth.app': 'shop',
    'berth.env': 'production',
    'berth.service': 'web',
    'berth.release': '7',
  });
  assert.deepEqual(spec.TaskTemplate.Placement, {
    Constraints: ['node.labels.zone==a'],
    Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.rack' } }],
  });
  assert.deepEqual(spec.EndpointSpec, {
    Mode: 'dnsrr',
    Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishMode: 'host' }],
  });
});

test("a start fails on the app's own failed task at once, on the engine's failures to start a container only past one per replica", () => {
  const task = (err: string) => ({ Status: { State: 'failed', Err: err } }) as unknown as SwarmTask;
  const runc = task(
    'starting container failed: failed to create shim task: OCI runtime create failed: write init-p: broken pipe: unknown',
  );
  const exited = task('task: non-zero exit (1)');
  assert.equal(fatalTask([], 3), undefined);
  assert.equal(fatalTask([runc, runc, runc], 3), undefined, 'Swarm starts those again: waited out');
  assert.equal(fatalTask([runc, runc, runc, runc], 3), runc, 'more than one per replica: not passing');
  assert.equal(fatalTask([runc, exited], 3), exited, "the app's own failure counts at once");
  assert.equal(fatalTask([task('No such image: web:gone')], 3)?.Status.Err, 'No such image: web:gone');
});
