import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/api/client.js';
import type { ServicePoint } from '../src/metrics/history.js';
import { procStat } from '../src/system/proc.js';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * The dashboard's graphs keep their last hour across a restart of berthd (issue 19): a real berthd samples a
 * real app (requests through the builtin proxy), is stopped and started, then killed with -9 and started, and
 * GET /v1/apps/:app/metrics still has the points it had before.
 */
const home = new TestHome('27400-27499');
home.env.BERTH_METRICS_SAMPLE_MS = '300';
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const api = () => new ApiClient(path.join(home.home, 'berthd.sock'));

interface History {
  intervalMs: number;
  services: Array<{ service: string; points: ServicePoint[] }>;
}
async function points(): Promise<ServicePoint[]> {
  const client = api();
  try {
    const h = await client.call<History>('GET', '/v1/apps/gauge/metrics');
    return h.services.find((s) => s.service === 'web')?.points ?? [];
  } finally {
    await client.close();
  }
}
const requests = (ps: ServicePoint[]) => ps.reduce((n, p) => n + Math.round(p.reqPerSec * p.seconds), 0);
/** The points of `earlier` that `now` lacks, or has with other values. */
const missing = (earlier: ServicePoint[], now: ServicePoint[]) => {
  const byAt = new Map(now.map((p) => [p.at, p]));
  return earlier.filter((p) => !byAt.has(p.at) || JSON.stringify(byAt.get(p.at)) !== JSON.stringify(p));
};

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  const dir = home.app(
    'gauge',
    `app: gauge\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [gauge.test]\n`,
  );
  assertOk(await home.cli('deploy', dir));
});
after(() => home.cleanup());

/** Sends `n` requests to gauge, and waits until the history has counted them. */
async function traffic(n: number): Promise<ServicePoint[]> {
  const counted = requests(await points());
  for (let i = 0; i < n; i++) assert.equal((await hit(home.httpPort, 'gauge.test', `/${i}`)).status, 200);
  let ps: ServicePoint[] = [];
  await waitFor(`${n} requests in the history`, async () => requests((ps = await points())) >= counted + n);
  return ps;
}

test('berthd stopped and started: the metrics API still has the points sampled before', async () => {
  const sampled = await traffic(20);
  assertOk(await home.cli('daemon', 'stop'));
  assertOk(await home.cli('daemon', 'start'));
  const back = await points();
  assert.deepEqual(missing(sampled, back), [], 'points sampled before the restart, missing or changed after it');
  assert.ok(requests(back) >= 20, 'the requests counted before the restart');
  // Sampling goes on: new points after the old ones.
  const newest = sampled.at(-1)!.at;
  const after = await traffic(10);
  assert.ok(after.some((p) => p.at > newest + 300));
  assert.deepEqual(missing(sampled, after), []);
});

test('berthd killed with -9 and started: at most the sample being written is lost', async () => {
  const sampled = await traffic(15);
  const pid = home.daemonPid()!;
  process.kill(pid, 'SIGKILL');
  await waitFor('berthd to die', () => !isAlive(pid) || procStat(pid)?.state === 'Z', 5000);
  assertOk(await home.cli('daemon', 'start'));
  const back = await points();
  // The newest point may have been in memory (and answered) while its line was still being written.
  assert.deepEqual(missing(sampled.slice(0, -1), back), [], 'points sampled before the kill, missing or changed');
  assert.ok(requests(back) >= requests(sampled.slice(0, -1)));
});
