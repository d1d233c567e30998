import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { MARKER_ENV } from '../src/runtime/process-runner.js';
import { listPids, procEnvValue, procStat } from '../src/system/proc.js';
import { getJson, isAlive } from './helpers/http.js';
import { NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { assertOk } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('23100-23199');
after(() => home.cleanup());

/** Live processes (not zombies) carrying each instance marker of this BERTH_HOME. */
function processesByMarker(): Map<string, number[]> {
  const byMarker = new Map<string, number[]>();
  for (const pid of listPids()) {
    const marker = procEnvValue(pid, MARKER_ENV);
    const st = procStat(pid);
    if (!marker || !st || st.state === 'Z' || procEnvValue(pid, 'BERTH_TEST_HOME') !== home.home) continue;
    byMarker.set(marker, [...(byMarker.get(marker) ?? []), pid]);
  }
  return byMarker;
}

const manifest = `app: trio
services:
  db:
    run: ["${NODE}", "${SERVER}"]
    env: { BERTH_TEST_HOME: "${home.home}" }
  api:
    run: ["${NODE}", "${SERVER}"]
    env: { BERTH_TEST_HOME: "${home.home}" }
    depends_on: [db]
  web:
    run: ["${NODE}", "${SERVER}"]
    env: { BERTH_TEST_HOME: "${home.home}" }
    depends_on: [api]
`;

test('kill -9 berthd ten times: the apps keep serving, the next call adopts them, nothing runs twice', async () => {
  assertOk(await home.cli('up', home.app('trio', manifest)));
  const first = await home.json<InstanceStatus[]>('ps');
  assert.equal(first.length, 3);
  for (const s of first) await waitFor(`${s.service} serving`, () => getJson(s.port as number));
  const daemonPids = new Set<number>();
  for (let round = 1; round <= 10; round++) {
    const daemon = home.daemonPid() as number;
    daemonPids.add(daemon);
    process.kill(daemon, 'SIGKILL');
    await waitFor('berthd to die', () => !isAlive(daemon) || procStat(daemon)?.state === 'Z', 5000);
    for (const s of first)
      assert.equal(
        (await getJson<{ pid: number }>(s.port as number)).pid,
        s.pid,
        `round ${round}: ${s.service} stopped serving while berthd was dead`,
      );
    const now = await home.json<InstanceStatus[]>('ps'); // brings berthd back
    assert.deepEqual(
      now.map((s) => [s.service, s.state, s.pid, s.port, s.restarts]),
      first.map((s) => [s.service, 'healthy', s.pid, s.port, 0]),
      `round ${round}`,
    );
    const byMarker = processesByMarker();
    assert.equal(byMarker.size, 3, `round ${round}: ${JSON.stringify([...byMarker])}`);
    for (const pids of byMarker.values()) assert.equal(pids.length, 1, `round ${round}: an instance runs twice`);
  }
  assert.equal(daemonPids.size, 10, 'each round killed a different berthd');
});

test('an instance that dies while berthd is down is restarted once when berthd comes back', async () => {
  const before = await home.json<InstanceStatus[]>('ps');
  const api = before.find((s) => s.service === 'api') as InstanceStatus;
  process.kill(home.daemonPid() as number, 'SIGKILL');
  process.kill(api.pid as number, 'SIGKILL');
  await waitFor('api to die', () => !isAlive(api.pid as number) || procStat(api.pid as number)?.state === 'Z', 5000);
  assertOk(await home.cli('daemon', 'start'));
  const after = await waitFor('api restarted', async () => {
    const rows = await home.json<InstanceStatus[]>('ps');
    const a = rows.find((s) => s.service === 'api');
    return a?.state === 'healthy' && a.pid !== api.pid ? rows : undefined;
  });
  const api2 = after.find((s) => s.service === 'api') as InstanceStatus;
  assert.equal(api2.restarts, 1);
  assert.equal(api2.port, api.port);
  assert.deepEqual(
    after.filter((s) => s.service !== 'api').map((s) => [s.service, s.pid, s.restarts]),
    before.filter((s) => s.service !== 'api').map((s) => [s.service, s.pid, 0]),
    'the live ones were adopted, not restarted',
  );
  await waitFor('api serving again', () => getJson(api2.port as number));
  for (const pids of processesByMarker().values()) assert.equal(pids.length, 1);
});

test('a recorded pid that now belongs to another process is not adopted (start time tells them apart)', async () => {
  const before = await home.json<InstanceStatus[]>('ps');
  const db = before.find((s) => s.service === 'db') as InstanceStatus;
  const daemon = home.daemonPid() as number;
  process.kill(daemon, 'SIGKILL');
  await waitFor('berthd to die', () => !isAlive(daemon) || procStat(daemon)?.state === 'Z', 5000);
  process.kill(db.pid as number, 'SIGKILL');
  // Pretend the kernel reused db's pid for this test process: same pid in the store, other start time.
  const { Store } = await import('../src/store/store.js');
  const store = await Store.openSqlite(path.join(home.home, 'berth.db'));
  const rows = await store.instances.list({ app: 'trio', service: 'db' });
  await store.write((r) => r.instances.update(rows[0]?.id as number, { pid: process.pid }));
  await store.close();
  assertOk(await home.cli('daemon', 'start'));
  const after = await waitFor('db restarted', async () => {
    const d = (await home.json<InstanceStatus[]>('ps')).find((s) => s.service === 'db');
    return d?.state === 'healthy' && d.pid !== process.pid && d.pid !== db.pid ? d : undefined;
  });
  assert.equal(after.restarts, 1);
  assert.ok(isAlive(process.pid), 'berthd left the unrelated process alone');
  await waitFor('db serving again', () => getJson(after.port as number));
});

test('berthd killed in the middle of `berth up`: afterwards ps is truthful, nothing is half-written or doubled', async () => {
  const services = Array.from(
    { length: 12 },
    (_, i) => `  s${i}:\n    run: ["${NODE}", "${SERVER}"]\n    env: { BERTH_TEST_HOME: "${home.home}" }\n`,
  ).join('');
  for (const [round, delayMs] of [30, 120, 250, 400].entries()) {
    const app = `mid${round}`;
    const dir = home.app(app, `app: ${app}\nservices:\n${services}`);
    await home.cli('daemon', 'start');
    const daemon = home.daemonPid() as number;
    const up = home.cli('up', dir);
    await new Promise((r) => setTimeout(r, delayMs));
    process.kill(daemon, 'SIGKILL');
    await up; // fails or succeeds, depending on where it was cut
    const rows = await waitFor(`round ${round}: a settled state`, async () => {
      const all = (await home.json<InstanceStatus[]>('ps')).filter((s) => s.app === app);
      return all.length === 0 || all.every((s) => s.state === 'healthy') ? all : undefined;
    });
    assert.ok(rows.length === 0 || rows.length === 12, `round ${round}: ${rows.length} of 12 services registered`);
    for (const s of rows) await waitFor(`${s.service} serving`, () => getJson(s.port as number));
    for (const [marker, pids] of processesByMarker())
      assert.equal(pids.length, 1, `round ${round}: ${marker} runs ${pids.length} times`);
    if (rows.length > 0) assertOk(await home.cli('rm', app));
  }
});
