import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { assertOk } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('23500-23599');
after(() => home.cleanup());

const one = async (app: string) => (await home.json<InstanceStatus[]>('ps', app))[0] as InstanceStatus;

test('readiness is never assumed: a process that does not listen on its port never becomes ready', async () => {
  const dir = home.app(
    'deaf',
    `app: deaf\nservices:\n  web:\n    run: "echo warming up; sleep 30"\n    health: { start_timeout: 1s }\n`,
  );
  const r = await home.cli('up', dir);
  assert.equal(r.code, 1); // and the message says it gave up at its start_timeout, not later
  assert.match(
    r.stderr,
    /deaf\/web\[0\] did not become ready \(unhealthy\): not ready after 1(\.\d)? s: nothing listens on port 235\d\d; last log lines:\n {2}warming up/,
  );
  assert.deepEqual(await home.json<InstanceStatus[]>('ps'), [], 'the new app was undone');
});

test('a port held by another process does not make an instance ready', async () => {
  // The instance's shell starts a listener in a new session that drops the Berth marker: not its own process.
  const dir = home.app(
    'imposter',
    `app: imposter\nservices:\n  web:\n    run: "env -u BERTH_INSTANCE BERTH_TEST_HOME=${home.home} setsid ${NODE} ${SERVER} & sleep 30"\n    health: { start_timeout: 1500ms }\n`,
  );
  const r = await home.cli('up', dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not ready after 1\.\d s: port 235\d\d is held by a process that is not this instance/);
});

test('http health: starting until /healthz answers, unhealthy after the threshold, then restarted', async () => {
  const flag = path.join(home.root, 'healthy-flag');
  writeFileSync(flag, '');
  const dir = home.app(
    'probed',
    `app: probed\nservices:\n  api:\n    run: ["${NODE}", "${SERVER}"]\n    env: { HEALTH_FILE: "${flag}" }\n    health: { http: /healthz, interval: 200ms, unhealthy_threshold: 2, start_timeout: 3s }\n`,
  );
  assertOk(await home.cli('up', dir));
  const first = await one('probed');
  assert.equal(first.state, 'healthy');
  rmSync(flag);
  await waitFor(
    'unhealthy or restarted',
    async () => {
      const s = await one('probed');
      return s.restarts >= 1 ? s : undefined;
    },
    10_000,
  );
  const events = await home.json<Array<{ message: string }>>('events', 'probed');
  assert.ok(
    events.some((e) =>
      /api\[0\]@r1 healthy -> unhealthy: 2 failed probes in a row: GET \/healthz answered 503, expected 2xx/.test(
        e.message,
      ),
    ),
    JSON.stringify(events.map((e) => e.message)),
  );
  writeFileSync(flag, '');
  const back = await waitFor(
    'healthy again',
    async () => {
      const s = await one('probed');
      return s.state === 'healthy' ? s : undefined;
    },
    10_000,
  );
  assert.notEqual(back.pid, first.pid);
});

test("a tcp probe only asks whether the port answers (here: a listener that is not the instance's own)", async () => {
  const dir = home.app(
    'tcponly',
    `app: tcponly\nservices:\n  web:\n    run: "env -u BERTH_INSTANCE BERTH_TEST_HOME=${home.home} setsid ${NODE} ${SERVER} & sleep 30"\n    health: { tcp: true, start_timeout: 3s }\n`,
  );
  assertOk(await home.cli('up', dir));
  assert.equal((await home.json<InstanceStatus[]>('ps', 'tcponly'))[0]?.state, 'healthy');
  assertOk(await home.cli('rm', 'tcponly'));
});

test('tcp health and ps show the health state', async () => {
  const dir = home.app(
    'tcpish',
    `app: tcpish\nservices:\n  db:\n    run: ["${NODE}", "${SERVER}"]\n    health: { tcp: true }\n`,
  );
  assertOk(await home.cli('up', dir));
  const table = await home.cli('ps', 'tcpish');
  assert.match(table.stdout, /tcpish\s+production\s+db\s+1\s+healthy\s+\d+/);
});
