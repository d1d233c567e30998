import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Finding } from '../src/doctor/finding.js';
import { MARKER_ENV } from '../src/runtime/process-runner.js';
import { Store } from '../src/store/store.js';
import { listPids, procEnvValue, procStat } from '../src/system/proc.js';
import { isAlive } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const PREFORK = path.join(REPO, 'test', 'fixtures', 'prefork.mjs');
const home = new TestHome('26700-26799');
const PINNED = 26790;
before(() => home.cli('daemon', 'start'));
after(() => home.cleanup());

/** A worker (recreate, no port) that notes every start in its data dir, and takes ~1 s to stop. */
const worker = (version: number) => `  jobs:
    run: "echo ${version} >> \\"$DATA_DIR/ran\\"; trap 'sleep 1; exit 0' TERM; while true; do sleep 0.1; done"
    port: none
    env: { BERTH_TEST_HOME: "${home.home}" }
`;

/** A gunicorn-like service (master + worker, slow start, slow stop) on a pinned port. */
const prefork = (version: number, fail: boolean, port = PINNED, stopMs = 1000) => `  web:
    run: ["${NODE}", "${PREFORK}"]
    port: ${port}
    env: { VERSION: "${version}", STOP_MS: "${stopMs}", BERTH_TEST_HOME: "${home.home}"${fail ? ', FAIL: "1"' : ''} }
    health: { start_timeout: 5s }
`;

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.openSqlite(path.join(home.home, 'berth.db'));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const ps = (app: string) => home.json<InstanceStatus[]>('ps', app);
const runs = (app: string) => readFileSync(path.join(home.home, 'data', app, 'production', 'ran'), 'utf8');

/** The deploy reported its failure only after the restored instance of `service` was healthy again. */
async function assertHealthyBeforeFailure(app: string, service: string): Promise<void> {
  const events = (await home.json<Array<{ message: string }>>('events', app)).map((e) => e.message); // newest last
  const failed = events.findLastIndex((m) => /^deploy of release \d+ failed/.test(m));
  const last = events.slice(0, failed).findLast((m) => m.startsWith(`${service}[0]@`));
  assert.equal(last, `${service}[0]@r1 starting -> healthy`, events.join('\n')); // release 1, restored
}

/** The pid that answers on a port (the test server's GET /), if any. */
async function hitPort(port: number): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
  return res ? ((await res.json()) as { pid: number }).pid : undefined;
}

async function doctor(): Promise<Finding[]> {
  const r = await home.cli('doctor', '--json');
  return (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
}

/** Pids of processes carrying one of this home's instance markers. */
function markedPids(): Set<number> {
  const out = new Set<number>();
  for (const pid of listPids()) {
    const st = procStat(pid);
    if (st && st.state !== 'Z' && procEnvValue(pid, 'BERTH_TEST_HOME') === home.home && procEnvValue(pid, MARKER_ENV))
      out.add(pid);
  }
  return out;
}

/** No finding proposes to kill a process that carries Berth's mark. */
function assertNoKillOfBerth(findings: readonly Finding[], label: string): void {
  const marked = markedPids();
  for (const f of findings) {
    const pids =
      /^kill ([\d ]+)/
        .exec(f.fix ?? '')?.[1]
        ?.split(' ')
        .map(Number) ?? [];
    assert.ok(!pids.some((p) => marked.has(p)), `${label}: doctor proposes to kill Berth's own process: ${f.fix}`);
  }
}

test('a kill of berthd while a recreate worker stops: after a restart the old worker runs, `berth start` works', async () => {
  const manifest = (v: number) => `app: slowstop\nservices:\n${worker(v)}`;
  const dir = home.app('slowstop', manifest(1));
  assertOk(await home.cli('deploy', dir));
  const [old] = await ps('slowstop');
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(2));
  const daemon = home.daemonPid() as number;
  const deploying = home.cli('deploy', dir);
  // The worker takes ~1 s to stop: berthd dies in the middle of "start wave 1".
  await waitFor(
    'the old worker to be stopping',
    () => withStore(async (s) => (await s.instances.list({ app: 'slowstop' })).some((v) => v.state === 'stopping')),
    20_000,
    20,
  );
  process.kill(daemon, 'SIGKILL');
  assert.notEqual((await deploying).code, 0);
  await waitFor('berthd to be dead', () => !isAlive(daemon) || procStat(daemon)?.state === 'Z', 5000);
  assertOk(await home.cli('daemon', 'start'));
  const list = await home.json<{ deployments: Array<{ status: string; error: string | null }> }>(
    'releases',
    'slowstop',
  );
  assert.equal(list.deployments[0]?.status, 'interrupted', JSON.stringify(list.deployments[0]));
  assert.doesNotMatch(list.deployments[0].error ?? '', /additionally|undo failed/, 'the undo after the restart worked');
  const [back] = await waitFor('the old worker to run again', async () => {
    const rows = await ps('slowstop');
    return rows.length === 1 && rows[0]?.state === 'healthy' ? rows : undefined;
  });
  assert.equal(back?.release, old?.release, 'release 1 serves');
  assert.ok(back?.pid && isAlive(back.pid), 'its process runs');
  assert.equal(runs('slowstop'), '1\n1\n', 'it ran release 1 again, and release 2 never ran');
  assertOk(await home.cli('stop', 'slowstop'));
  assertOk(await home.cli('start', 'slowstop'));
  assert.equal((await ps('slowstop'))[0]?.state, 'healthy');
});

test('doctor reports an instance whose process is gone whatever its state; `berth start` starts it again', async () => {
  const dir = home.app('gone', `app: gone\nservices:\n${worker(1)}`);
  assertOk(await home.cli('deploy', dir));
  const [v] = await ps('gone');
  // What a berthd killed in a stop leaves: recorded as stopping, its process gone.
  await withStore(async (s) => {
    const [row] = await s.instances.list({ app: 'gone' });
    await s.instances.update(row?.id as number, { state: 'stopping' });
  });
  process.kill(-(v?.pid as number), 'SIGKILL');
  await waitFor('the worker to be gone', () => !isAlive(v?.pid as number));
  const found = (await doctor()).find((f) => f.code === 'instance-pid-gone' && f.app === 'gone');
  assert.match(
    found?.message ?? '',
    /gone\/jobs\[0\] \(release 1\) is recorded as stopping with pid \d+, but that process is gone/,
  );
  assert.equal(found?.fix, 'berth start gone jobs');
  assertOk(await home.cli('start', 'gone', 'jobs'));
  const [again] = await ps('gone');
  assert.equal(again?.state, 'healthy');
  assert.ok(again.pid && isAlive(again.pid));
  assert.equal((await doctor()).filter((f) => f.app === 'gone').length, 0);
});

test('recreate services start after every blue-green wave: a failing blue-green service never touches the worker', async () => {
  const manifest = (v: number, healthy: boolean) => `app: mixed
services:
  web:
    run: ["${NODE}", "${SERVER}"]
    env: { BERTH_TEST_HOME: "${home.home}"${healthy ? '' : `, HEALTH_FILE: "${home.root}/never"`} }
    health: { http: /healthz, start_timeout: 2s }
${worker(v)}`;
  const dir = home.app('mixed', manifest(1, true));
  assertOk(await home.cli('deploy', dir));
  const before = (await ps('mixed')).find((s) => s.service === 'jobs');
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(2, false));
  const r = await home.cli('deploy', dir, '--json');
  assert.equal(r.code, 1, r.stdout);
  const names = (JSON.parse(r.stdout) as { steps: Array<{ name: string }> }).steps.map((s) => s.name);
  assert.deepEqual(
    names.filter((n) => n.startsWith('start wave')),
    ['start wave 1: web', 'start wave 2: jobs'],
  );
  assert.equal(runs('mixed'), '1\n', 'the worker never ran the new release');
  const after = (await ps('mixed')).find((s) => s.service === 'jobs');
  assert.equal(after?.pid, before?.pid, 'the old worker was never stopped');
  assert.equal(after?.state, 'healthy');
});

test('a failed deploy of a pinned gunicorn-like service: the undo restores its lease and waits until it is healthy', async () => {
  const manifest = (v: number, fail: boolean) => `app: pinned\nservices:\n${prefork(v, fail)}`;
  const dir = home.app('pinned', manifest(1, false));
  assertOk(await home.cli('deploy', dir));
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(2, true));
  const r = await home.cli('deploy', dir);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  await assertHealthyBeforeFailure('pinned', 'web');
  const [web] = await ps('pinned');
  assert.deepEqual([web?.release, web?.state, web?.port], [1, 'healthy', PINNED], JSON.stringify(web));
  const lease = await withStore((s) => s.leases.owner('local', PINNED));
  assert.deepEqual([lease?.app, lease?.service], ['pinned', 'web'], 'the lease came back with the instance');
  const findings = (await doctor()).filter((f) => f.app === 'pinned');
  assertNoKillOfBerth(findings, 'after the failed deploy');
  assert.deepEqual(findings, []);
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(3, false));
  assertOk(await home.cli('deploy', dir), 'a later deploy');
  assert.deepEqual(
    (await ps('pinned')).map((s) => [s.release, s.state]),
    [[3, 'healthy']], // release 2 was the failed attempt: its number is never used again
  );
});

test('a wave fails only when all its services finished: a slow pinned service keeps its lease when another fails fast', async () => {
  // Two recreate services in one wave: api fails at once while web (pinned) still stops its old instance.
  const manifest = (v: number, fail: boolean) => `app: pair
services:
${prefork(v, false, PINNED + 1, 4000)}  api:
    run: ["${NODE}", "${SERVER}"]
    strategy: recreate
    restart: never
    env: { BERTH_TEST_HOME: "${home.home}"${fail ? ', CRASH: "3"' : ''} }
`;
  const dir = home.app('pair', manifest(1, false));
  assertOk(await home.cli('deploy', dir));
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(2, true));
  const r = await home.cli('deploy', dir);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /api\[0\] did not become ready/);
  const lease = await withStore((s) => s.leases.owner('local', PINNED + 1));
  assert.equal(lease?.service, 'web', 'the pinned port is still leased');
  assert.deepEqual(
    await withStore(async (s) => (await s.instances.list({ app: 'pair', service: 'web' })).map((v) => v.id)),
    [lease.instanceId],
    'to the instance that runs on it',
  );
  await assertHealthyBeforeFailure('pair', 'web');
  const rows = await ps('pair');
  assert.deepEqual(
    rows.map((s) => [s.service, s.release, s.state]).sort(),
    [
      ['api', 1, 'healthy'],
      ['web', 1, 'healthy'],
    ],
    JSON.stringify(rows),
  );
  const leased = (await withStore((s) => s.leases.all())).filter((l) => l.app === 'pair').map((l) => l.port);
  assert.deepEqual(leased.sort(), rows.map((s) => s.port).sort(), 'every instance holds its lease again');
  const web = rows.find((s) => s.service === 'web');
  assert.ok(web?.pid && isAlive(web.pid));
  const findings = (await doctor()).filter((f) => f.app === 'pair');
  assertNoKillOfBerth(findings, 'after the failed deploy');
  assert.deepEqual(findings, []);
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(3, false));
  assertOk(await home.cli('deploy', dir), 'a later deploy');
});

test("doctor never proposes to kill Berth's own process: a pinned port held by its instance without a lease", async () => {
  const dir = home.app('nolease', `app: nolease\nservices:\n${prefork(1, false, PINNED + 2)}`);
  assertOk(await home.cli('deploy', dir));
  await withStore(async (s) => {
    const [v] = await s.instances.list({ app: 'nolease' });
    await s.leases.releaseInstance(v?.id as number);
  });
  const findings = (await doctor()).filter((f) => f.app === 'nolease');
  assertNoKillOfBerth(findings, 'lease missing');
  assert.deepEqual(
    findings.map((f) => [f.code, f.severity, f.fix]),
    [['lease-missing', 'warning', 'berth restart nolease web (its start takes the lease back)']],
  );
  assert.match(findings[0]?.message ?? '', /is held by its own instance web\[0\]/);
  assertOk(await home.cli('restart', 'nolease', 'web'));
  assert.equal((await withStore((s) => s.leases.owner('local', PINNED + 2)))?.app, 'nolease');
  assert.deepEqual(
    (await doctor()).filter((f) => f.app === 'nolease'),
    [],
  );
  assert.ok(existsSync(dir));
});

test("doctor never proposes to kill Berth's own process: an instance listening on a port leased to another", async () => {
  assertOk(
    await home.cli('deploy', home.app('victim', `app: victim\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n`)),
  );
  const [victim] = await ps('victim');
  assertOk(await home.cli('stop', 'victim')); // its lease stays; its port is free
  const port = victim?.port as number;
  const rogue = `app: rogue\nservices:\n  jobs:\n    run: "PORT=${port} exec ${NODE} ${SERVER}"\n    port: none\n    env: { BERTH_TEST_HOME: "${home.home}" }\n`;
  assertOk(await home.cli('deploy', home.app('rogue', rogue)));
  const [jobs] = await ps('rogue');
  await waitFor('rogue to listen on the leased port', async () => (await hitPort(port)) === jobs?.pid);
  const findings = (await doctor()).filter((f) => f.app === 'victim' || f.app === 'rogue');
  assertNoKillOfBerth(findings, 'stray instance');
  const stray = findings.find((f) => f.code === 'instance-wrong-port');
  assert.match(
    stray?.message ?? '',
    new RegExp(
      `port ${port}, leased to victim/production/web, is held by pid ${jobs?.pid} .*rogue/production/jobs\\[0\\] \\(release 1\\) that was given no port`,
    ),
  );
  assert.equal(stray?.fix, 'make jobs listen on $PORT (berth.yaml: services.jobs.run), then berth restart rogue jobs');
  assertOk(await home.cli('rm', 'rogue'));
});
