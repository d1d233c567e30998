import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsHistory, Ring, sampleInterval } from '../src/metrics/history.js';
import { shopSampler } from './helpers/metrics-samples.js';

/**
 * The metrics history's bound (issue 19, the dashboard's graphs): a ring keeps only its newest points,
 * a service keeps an hour of them however long berthd runs, and a service gone loses its ring. The
 * samples are built here (the dashboard test drives the real one, through berthd and a browser).
 */
test('a ring keeps its newest items, oldest first, and never more than its capacity', () => {
  const ring = new Ring<number>(5);
  for (let n = 1; n <= 3; n++) ring.push(n);
  assert.deepEqual(ring.values(), [1, 2, 3]);
  for (let n = 4; n <= 1003; n++) ring.push(n);
  assert.equal(ring.length, 5);
  assert.deepEqual(ring.values(), [999, 1000, 1001, 1002, 1003]);
  assert.throws(() => new Ring(0), /capacity of 1 or more/);
});

test('the history holds an hour of points per service, and drops a service that is gone', async () => {
  let services = ['web', 'worker'];
  const { sample, now } = shopSampler(() => services, { perMinute: 120, cpuShare: 0.1 });
  const history = new MetricsHistory(sample, 60_000);
  assert.equal(history.capacity, 60);
  for (let n = 0; n < 500; n++) await history.tick();
  const [web, worker] = history.of('shop', 'production');
  assert.equal(web?.service, 'web');
  assert.equal(web.points.length, 60, 'an hour of one-minute points, not 499');
  assert.equal(worker?.points.length, 60);
  assert.equal(history.size, 120);
  assert.equal(web.points.at(-1)?.at, now(), 'the newest kept');
  assert.equal(web.points[0]?.at, now() - 59 * 60_000, 'the oldest dropped');
  assert.deepEqual(
    web.points.map((p) => p.reqPerSec * p.seconds),
    new Array(60).fill(120),
  );
  assert.ok(Math.abs(web.points[0].cpuPercent - 10) < 1e-9);
  services = ['web'];
  await history.tick();
  assert.deepEqual(
    history.of('shop', 'production').map((s) => s.service),
    ['web'],
  );
  assert.equal(history.size, 60);
  assert.deepEqual(history.of('shop', 'staging'), []);
  assert.equal(sampleInterval({ BERTH_METRICS_SAMPLE_MS: '500' }), 500);
  assert.equal(sampleInterval({}), 15_000);
});
