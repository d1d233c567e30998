import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterNodeChecks } from '../src/doctor/checks/cluster-nodes.js';
import { clusterServiceChecks } from '../src/doctor/checks/cluster-services.js';
import type { Facts } from '../src/doctor/facts.js';
import type { SwarmFacts, TimedTask } from '../src/doctor/swarm-facts.js';
import type { SwarmNode, SwarmService, TaskState } from '../src/runtime/swarm-types.js';

/**
 * The cluster checks as the pure functions they are, over swarm facts shaped as the Engine API gives them:
 * the cases test/cluster-doctor.test.ts cannot make happen on demand on a real swarm (an update half done, a
 * manager down, failures from long ago, a previous image's rejected tasks).
 */
const NOW = Date.parse('2026-12-02T12:00:00Z');

function node(id: string, o: Partial<{ state: string; role: string; availability: string }> = {}): SwarmNode {
  return {
    ID: id,
    Version: { Index: 1 },
    Spec: { Name: id, Role: o.role ?? 'worker', Availability: o.availability ?? 'active' },
    Description: { Hostname: 'host' },
    Status: { State: o.state ?? 'ready', Addr: `10.0.0.${id.length}` },
  } as SwarmNode;
}

function service(id: string, replicas: number, o: { image?: string; updating?: boolean } = {}): SwarmService {
  return {
    ID: id,
    Version: { Index: 1 },
    Spec: {
      Name: `berth-x-shop-production-${id}`,
      Labels: { 'berth.home': 'x', 'berth.app': 'shop', 'berth.env': 'production', 'berth.service': id },
      TaskTemplate: { ContainerSpec: { Image: o.image ?? 'img:2' } },
      Mode: { Replicated: { Replicas: replicas } },
    },
    ...(o.updating ? { UpdateStatus: { State: 'updating' } } : {}),
  };
}

let seq = 0;
function task(
  svc: string,
  nodeId: string,
  state: TaskState,
  o: { desired?: TaskState; agoMs?: number; err?: string; image?: string } = {},
): TimedTask {
  return {
    ID: `t${seq++}`,
    ServiceID: svc,
    NodeID: nodeId,
    Spec: { ContainerSpec: { Image: o.image ?? 'img:2' } },
    DesiredState: o.desired ?? (state === 'running' || state === 'pending' ? 'running' : 'shutdown'),
    Status: {
      State: state,
      ...(o.err ? { Err: o.err } : {}),
      Timestamp: new Date(NOW - (o.agoMs ?? 1000)).toISOString(),
    },
  };
}

function facts(swarm: SwarmFacts | undefined): Facts {
  return { swarm, now: NOW, environments: [], manifests: new Map() } as unknown as Facts;
}
const codes = (f: Facts) => [...clusterNodeChecks(f), ...clusterServiceChecks(f)].map((x) => x.code);

test('no swarm (a single engine, or none): no cluster finding', () => {
  assert.deepEqual(codes(facts(undefined)), []);
});

test('a manager down is an error (the quorum loses a vote), a worker down a warning', () => {
  const f = facts({
    nodes: [
      node('m1', { role: 'manager' }),
      node('m2', { role: 'manager', state: 'down' }),
      node('w1', { state: 'down' }),
    ],
    services: [],
    tasks: [],
  });
  assert.deepEqual(
    clusterNodeChecks(f).map((x) => [x.severity, x.message.split(' ').slice(0, 2).join(' ')]),
    [
      ['error', 'node m2'],
      ['warning', 'node w1'],
    ],
  );
});

test("a running task on a node that is down does not count; an update's extra task (start-first) is no mismatch", () => {
  const nodes = [node('a'), node('b', { state: 'down' })];
  const onDown = facts({
    nodes,
    services: [service('web', 2)],
    tasks: [task('web', 'a', 'running'), task('web', 'b', 'running')],
  });
  const f = clusterServiceChecks(onDown).find((x) => x.code === 'cluster-service-replicas');
  assert.match(f?.message ?? '', /runs 1 of its 2 replicas/);
  const updating = facts({
    nodes,
    services: [service('web', 2, { updating: true })],
    tasks: [task('web', 'a', 'running'), task('web', 'a', 'running'), task('web', 'a', 'running')],
  });
  assert.deepEqual(clusterServiceChecks(updating), []);
});

test('restarting: 3 recent failures are, 2 or old ones are not', () => {
  const fail = (agoMs: number) => task('web', 'a', 'failed', { agoMs, err: 'task: non-zero exit (1)' });
  const base = { nodes: [node('a')], services: [service('web', 1)] };
  const live = task('web', 'a', 'running');
  assert.deepEqual(codes(facts({ ...base, tasks: [live, fail(1000), fail(5000)] })), []);
  assert.deepEqual(codes(facts({ ...base, tasks: [live, fail(1000), fail(5000), fail(11 * 60_000)] })), []);
  const three = clusterServiceChecks(facts({ ...base, tasks: [live, fail(1000), fail(5000), fail(9000)] }));
  assert.deepEqual(
    three.map((x) => [x.code, x.severity]),
    [['cluster-task-restarting', 'warning']],
  );
  assert.match(three[0]?.message ?? '', /the last one 1 s ago: task: non-zero exit \(1\); 1 task\(s\) running/);
});

test("a previous image's rejected tasks are not the current image missing", () => {
  const rejected = (image: string) => task('web', 'a', 'rejected', { err: `No such image: ${image}`, image });
  const base = { nodes: [node('a')], services: [service('web', 1)] };
  assert.deepEqual(codes(facts({ ...base, tasks: [task('web', 'a', 'running'), rejected('img:1')] })), []);
  assert.deepEqual(codes(facts({ ...base, tasks: [task('web', 'a', 'running'), rejected('img:2')] })), [
    'cluster-image-missing',
  ]);
});

test('tasks placed and starting for less than 2 min make up the replicas; stuck longer, they do not', () => {
  const base = { nodes: [node('a')], services: [service('web', 2)] };
  const starting = (agoMs: number) => task('web', 'a', 'starting', { desired: 'running', agoMs });
  assert.deepEqual(codes(facts({ ...base, tasks: [task('web', 'a', 'running'), starting(30_000)] })), []);
  const stuck = clusterServiceChecks(facts({ ...base, tasks: [task('web', 'a', 'running'), starting(3 * 60_000)] }));
  assert.deepEqual(
    stuck.map((x) => [x.code, x.severity, x.message]),
    [
      [
        'cluster-service-replicas',
        'warning',
        'shop/production/web runs 1 of its 2 replicas on the swarm (1 starting: no reason given)',
      ],
    ],
  );
});
