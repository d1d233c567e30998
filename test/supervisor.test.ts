import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { procStat } from '../src/system/proc.js';
import { getJson, isAlive } from './helpers/http.js';
import { NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { assertOk } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('23000-23099');
home.env.SOME_DAEMON_SECRET = 'must-not-leak';
before(() => home.cli('daemon', 'start'));
after(() => home.cleanup());

const ps = (app: string) => home.json<InstanceStatus[]>('ps', app);
const one = async (app: string, service: string) =>
  (await ps(app)).find((r) => r.service === service) as InstanceStatus;

test('an instance gets the manifest env, PORT and DATA_DIR, and nothing else of the daemon', async () => {
  const dir = home.app(
    'envcheck',
    `app: envcheck\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    env: { GREETING: hello, WORKERS: 2 }\n`,
  );
  const r = await home.cli('up', dir);
  assert.equal(r.code, 0, r.stderr);
  const web = await one('envcheck', 'web');
  assert.equal(web.state, 'healthy');
  const env = await waitFor('the server', () => getJson<Record<string, string>>(web.port as number, '/env'));
  assert.deepEqual(Object.keys(env).sort(), [
    'BERTH_INSTANCE',
    'DATA_DIR',
    'GREETING',
    'HOME',
    'PATH',
    'PORT',
    'WORKERS',
  ]);
  assert.equal(env.PORT, String(web.port));
  assert.equal(env.DATA_DIR, path.join(home.home, 'data', 'envcheck', 'production'));
  assert.ok(existsSync(env.DATA_DIR));
  assert.equal(env.WORKERS, '2');
  const st = procStat(web.pid as number);
  assert.equal(st?.pgrp, web.pid, 'instance leads its own process group');
  assert.equal(st.session, web.pid, 'instance leads its own session');
});

test('stop leaves no child of the app alive, not even one that moved to a new session', async () => {
  const dir = home.app(
    'forker',
    `app: forker\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    env: { FORK: 1 }\n    stop_timeout: 2s\n`,
  );
  assertOk(await home.cli('up', dir));
  const web = await one('forker', 'web');
  const info = await waitFor('the server', () => getJson<{ pid: number; children: number[] }>(web.port as number));
  assert.equal(info.children.length, 2);
  assert.ok(info.children.every(isAlive));
  assert.notEqual(procStat(info.children[1] as number)?.session, web.pid, 'the second child escaped the session');
  const r = await home.json<InstanceStatus[]>('stop', 'forker');
  assert.equal(r[0]?.state, 'stopped');
  assert.equal(r[0].pid, null);
  for (const pid of [web.pid as number, ...info.children])
    await waitFor(`pid ${pid} to be gone`, () => !isAlive(pid) || procStat(pid)?.state === 'Z', 3000);
  const started = await home.json<InstanceStatus[]>('start', 'forker');
  assert.equal(started[0]?.state, 'healthy');
  assert.equal(started[0].port, web.port, 'the instance keeps its port lease across stop and start');
});

test('a service that keeps failing is in crashloop, with its exit code and last log lines in ps and logs', async () => {
  const dir = home.app(
    'crasher',
    `app: crasher\nservices:\n  api:\n    run: ["${NODE}", "${SERVER}"]\n    env: { CRASH: 3, CRASH_AFTER_MS: 300 }\n`,
  );
  assertOk(await home.cli('up', dir));
  const api = await waitFor(
    'crashloop',
    async () => {
      const s = await one('crasher', 'api');
      return s.state === 'crashloop' ? s : undefined;
    },
    15_000,
  );
  assert.ok(api.restarts >= 4, `restarts ${api.restarts}`);
  assert.equal(api.lastExit?.code, 3);
  assert.ok(
    api.lastLines?.some((l) => l.includes('boom: cannot connect to the database (exit 3)')),
    JSON.stringify(api.lastLines),
  );
  // Crashloop lasts its backoff (2 s at the 5th failure); on a loaded machine the next CLI call may come after it.
  const table = await waitFor('crashloop in the table', async () => {
    const t = await home.cli('ps', 'crasher');
    return /\scrashloop\s/.test(t.stdout) ? t : undefined;
  });
  assert.match(table.stdout, /crasher\s+production\s+api\s+1\s+crashloop\s+-\s+\d+\s+-\s+\d+\s+exit 3/);
  assert.match(
    table.stdout,
    /crasher\/api\[0\] is crashloop \(exit 3\); last log lines:\n( {2}.*\n)* {2}starting up\n {2}boom: cannot connect/,
  );
  const logs = await home.cli('logs', 'crasher', 'api', '-n', '2');
  assert.equal(logs.code, 0);
  assert.match(logs.stdout, /boom: cannot connect/);
  assert.equal(logs.stdout.trim().split('\n').length, 2);
  assertOk(await home.cli('stop', 'crasher'));
  assert.equal((await one('crasher', 'api')).state, 'stopped');
});

test('restart policies: on-failure leaves a clean exit down, never leaves a failure down', async () => {
  // Each exits 3 s after its start: after the deploy saw it running (an exit before its first check fails the deploy;
  // at 0.3 s a loaded CI machine checked too late once: "failing[0] did not become ready (exited)").
  const dir = home.app(
    'policies',
    `app: policies\nservices:\n  clean:\n    run: "sleep 3; echo done"\n    port: none\n    restart: on-failure\n  failing:\n    run: "sleep 3; exit 4"\n    port: none\n    restart: never\n`,
  );
  assertOk(await home.cli('up', dir));
  const rows = await waitFor('both exited', async () => {
    const r = await ps('policies');
    return r.every((s) => s.state === 'exited') ? r : undefined;
  });
  assert.deepEqual(
    rows.map((r) => [r.service, r.lastExit?.code, r.restarts]),
    [
      ['clean', 0, 0],
      ['failing', 4, 0],
    ],
  );
});

test('a killed instance is restarted by policy, on the same port', async () => {
  const dir = home.app('phoenix', `app: phoenix\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n`);
  assertOk(await home.cli('up', dir));
  const before = await one('phoenix', 'web');
  process.kill(before.pid as number, 'SIGKILL');
  const after = await waitFor('a new pid', async () => {
    const s = await one('phoenix', 'web');
    return s.state === 'healthy' && s.pid !== before.pid ? s : undefined;
  });
  assert.equal(after.restarts, 1);
  assert.equal(after.port, before.port);
  assert.equal(after.lastExit?.signal, 'SIGKILL');
  await waitFor('the new process to serve', () => getJson(after.port as number));
});

test('the daemon log and instance logs live under BERTH_HOME', () => {
  assert.ok(existsSync(path.join(home.home, 'berthd.log')));
  assert.ok(existsSync(path.join(home.home, 'logs', 'crasher', 'production', 'api.0.r1.log')));
  assert.match(
    readFileSync(path.join(home.home, 'logs', 'phoenix', 'production', 'web.0.r1.log'), 'utf8'),
    /listening on/,
  );
});
