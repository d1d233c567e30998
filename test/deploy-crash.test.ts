import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { MARKER_ENV } from '../src/runtime/process-runner.js';
import { Store } from '../src/store/store.js';
import { listPids, procEnvValue, procStat } from '../src/system/proc.js';
import { hit } from './helpers/http.js';
import { assertRecovered, crashingDeploy, startArmed, type CrashPoint } from './helpers/crash-points.js';
import { NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { assertOk } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('23900-23999');
const P = home.httpPort;
// Each restart recovers a cut-off deploy before berthd answers: on a loaded machine that can take longer than 15 s.
home.env.BERTH_DAEMON_START_TIMEOUT_MS = '120000';
after(() => home.cleanup());

const manifest = (version: number) => `app: crashy
services:
  api:
    run: ["${NODE}", "${SERVER}"]
    build: "echo building ${version}"
    env: { VERSION: "${version}", BERTH_TEST_HOME: "${home.home}" }
    routes: [{ host: crashy.test, path: /api/, strip: true }]
  web:
    run: ["${NODE}", "${SERVER}"]
    env: { VERSION: "${version}", BERTH_TEST_HOME: "${home.home}" }
    depends_on: [api]
    routes: [crashy.test]
  jobs:
    run: "echo ${version} >> \\"$DATA_DIR/ran\\"; exec sleep 600"
    port: none
    env: { BERTH_TEST_HOME: "${home.home}" }
`;
const STEPS = [
  'snapshot',
  'build',
  'record release',
  'start wave 1',
  'start wave 2',
  'start wave 3', // jobs: a recreate worker starts last
  'switch traffic',
  'drain',
  'stop release',
  'prune',
];
const SWITCH = STEPS.indexOf('switch traffic');

function liveByMarker(): number {
  let n = 0;
  for (const pid of listPids()) {
    const st = procStat(pid);
    if (
      st &&
      st.state !== 'Z' &&
      st.pgrp === pid &&
      procEnvValue(pid, 'BERTH_TEST_HOME') === home.home &&
      procEnvValue(pid, MARKER_ENV)
    )
      n++;
  }
  return n;
}

/** Both sides of every step, in order. */
const POINTS: CrashPoint[] = STEPS.flatMap((_, i) => (['before', 'after'] as const).map((when) => ({ i, when })));

test('berthd killed at every step of a deploy: after a restart the right release serves and nothing is left behind', async () => {
  const dir = home.app('crashy', manifest(1));
  assertOk(await home.cli('deploy', dir));
  assertOk(await home.cli('daemon', 'stop'));
  await startArmed(home, POINTS[0], 'armed for the first point');
  let serving = 1;
  let version = 1;
  for (const [k, { i, when }] of POINTS.entries()) {
    const label = `crash ${when} step ${i} (${STEPS[i]})`;
    version++;
    writeFileSync(path.join(dir, 'berth.yaml'), manifest(version));
    await crashingDeploy(home, dir, POINTS[k + 1], label);
    const switched = i > SWITCH || (i === SWITCH && when === 'after');
    if (switched) serving = version;
    await assertRecovered(home, 'crashy', switched, label);
    const ps = await waitFor(`${label}: all instances healthy`, async () => {
      const rows = await home.json<InstanceStatus[]>('ps', 'crashy');
      return rows.every((s) => s.state === 'healthy') ? rows : undefined;
    });
    assert.equal(ps.length, 3, `${label}: ${JSON.stringify(ps.map((s) => [s.service, s.release, s.state]))}`);
    assert.ok(
      ps.every((s) => s.current),
      label,
    );
    assert.equal(
      (await hit(P, 'crashy.test', '/env')).json().VERSION,
      String(serving),
      `${label}: web serves the wrong release`,
    );
    assert.equal(
      (await hit(P, 'crashy.test', '/api/env')).json().VERSION,
      String(serving),
      `${label}: api serves the wrong release`,
    );
    const ran = readFileSync(path.join(home.home, 'data', 'crashy', 'production', 'ran'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(ran.at(-1), String(serving), `${label}: the worker last ran the wrong release: ${ran.join(',')}`);
    await waitFor(`${label}: no orphaned process`, () => liveByMarker() === 3, 5000);
    const store = await Store.openSqlite(path.join(home.home, 'berth.db'));
    try {
      const leases = await store.leases.all();
      assert.deepEqual(
        leases.map((l) => l.port).sort(),
        ps.flatMap((s) => (s.port === null ? [] : [s.port])).sort(),
        `${label}: leases`,
      );
      const releases = await store.releases.all();
      assert.deepEqual(
        readdirSync(path.join(home.home, 'releases', 'crashy', 'production')).sort(),
        releases.map((x) => String(x.number)).sort(),
        `${label}: release dirs`,
      );
      assert.equal((await store.deployments.running()).length, 0, label);
    } finally {
      await store.close();
    }
  }
});
