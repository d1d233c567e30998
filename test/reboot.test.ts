import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { listPids, procArgv, procEnvValue, procStat } from '../src/system/proc.js';
import { MARKER_ENV } from '../src/runtime/process-table.js';
import type { InstanceStatus } from '../src/core/results.js';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/** A reboot: every process of a home (berthd, the proxy, every instance) killed at once, then `berth daemon start`. */
const ORDERED = path.join(REPO, 'test', 'fixtures', 'ordered.mjs');
const builtin = new TestHome('30000-30039');
/** The same behind nginx: the edge is killed too (its ports are in this file's range, outside both port ranges). */
const edge = new TestHome('30040-30079');
Object.assign(edge.env, {
  BERTH_PROXY: 'nginx',
  BERTH_HTTP_PORT: '30090',
  BERTH_HTTPS_PORT: '30091',
  BERTH_INTERNAL_PORT: '30092',
});
after(() => Promise.all([builtin.cleanup(), edge.cleanup()]));

/**
 * Every live process this home started: berthd and the proxy carry its BERTH_HOME, instances its marker, an
 * edge's master names the home in its argv (nginx clears its environment) and its workers are the master's children.
 */
function processesOf(home: TestHome): number[] {
  const marker = createHash('sha256').update(home.home).digest('hex').slice(0, 12) + ':';
  const live = listPids()
    .filter((pid) => pid !== process.pid)
    .flatMap((pid) => {
      const st = procStat(pid);
      return st && st.state !== 'Z' ? [st] : [];
    });
  const masters = new Set(live.filter((st) => procArgv(st.pid).some((a) => a.includes(home.home))).map((st) => st.pid));
  return live
    .filter(
      (st) =>
        masters.has(st.pid) ||
        masters.has(st.ppid) ||
        procEnvValue(st.pid, 'BERTH_HOME') === home.home ||
        procEnvValue(st.pid, MARKER_ENV)?.startsWith(marker),
    )
    .map((st) => st.pid);
}

const stack = (apiPort: number) => `app: stack
services:
  api:
    run: ["${NODE}", "${ORDERED}"]
    port: ${apiPort}
    env: { LISTEN_DELAY_MS: "1500" }
    routes: [{ host: api.test, tls: off }]
  web:
    run: ["${NODE}", "${ORDERED}"]
    depends_on: [api]
    env: { NEEDS: "http://127.0.0.1:${apiPort}/" }
    routes: [{ host: web.test, tls: off }]
`;
const solo = `app: solo
services:
  web:
    run: ["${NODE}", "${ORDERED}"]
    restart: never
    instances: 2
    routes: [{ host: solo.test, tls: off }]
`;

async function answer(home: TestHome, host: string): Promise<{ pid: number; needsWasUp: boolean | null } | undefined> {
  const r = await hit(Number(home.env.BERTH_HTTP_PORT), host, '/').catch(() => undefined);
  return r?.status === 200 ? r.json() : undefined;
}

/** Two apps deployed, every process of the home SIGKILLed, `berth daemon start`: all comes back, in order. */
async function rebootScenario(home: TestHome, apiPort: number, edgeCommand?: string): Promise<void> {
  const routeAnswers = (host: string) => answer(home, host);
  const processesOfHome = () => processesOf(home);
  assertOk(await home.cli('daemon', 'start'));
  assertOk(await home.cli('deploy', home.app('stack', stack(apiPort))), 'deploy stack');
  assertOk(await home.cli('deploy', home.app('solo', solo)), 'deploy solo');
  assert.equal((await waitFor('web.test', () => routeAnswers('web.test'))).needsWasUp, true);
  await waitFor('solo.test', () => routeAnswers('solo.test'));

  const before = processesOfHome();
  const daemon = home.daemonPid() as number;
  assert.ok(before.includes(daemon), 'berthd is among the processes of the home');
  const commands = before.map((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
  assert.equal(
    commands.filter((c) => c === 'node').length,
    1 + 2 + 4,
    `berthd, the proxy's keeper and worker, 4 instances: ${commands.join(' ')}`,
  );
  if (edgeCommand)
    assert.ok(commands.includes(edgeCommand), `the edge (${edgeCommand}) is killed too: ${commands.join(' ')}`);
  for (const pid of before) process.kill(pid, 'SIGKILL');
  await waitFor('every process of the home gone', () =>
    before.every((pid) => !isAlive(pid) || procStat(pid)?.state === 'Z'),
  );
  assert.equal(await routeAnswers('web.test'), undefined, 'nothing serves after the "reboot"');

  assertOk(await home.cli('daemon', 'start'));
  for (const host of ['api.test', 'web.test', 'solo.test']) await waitFor(host, () => routeAnswers(host));
  // web asked api once at its start: it started only once api was healthy.
  assert.equal((await routeAnswers('web.test'))?.needsWasUp, true, 'web started before api was healthy');

  const rows = await home.json<InstanceStatus[]>('ps');
  assert.deepEqual(
    rows.map((r) => [r.app, r.service, r.state, r.restarts]),
    [
      ['solo', 'web', 'healthy', 0],
      ['solo', 'web', 'healthy', 0],
      ['stack', 'api', 'healthy', 0],
      ['stack', 'web', 'healthy', 0],
    ],
  );
  for (const r of rows) assert.ok(!before.includes(r.pid as number), `${r.app}/${r.service} runs a new process`);
  const events = await home.json<Array<{ app: string; kind: string; message: string }>>('events');
  const restarts = events.filter((e) => e.kind === 'boot.restart');
  assert.deepEqual(restarts.map((e) => e.app).sort(), ['solo', 'stack']);
  assert.match(
    restarts.find((e) => e.app === 'stack')?.message ?? '',
    /^restarted r1: every process of it was gone when berthd started .*: wave 1: api\[0\]; wave 2: web\[0\]$/,
  );
}

test('after a reboot (every process of the home SIGKILLed), berthd starts each current release in dependency order', () =>
  rebootScenario(builtin, 30030));

test('the same behind nginx: the edge comes back too', () => rebootScenario(edge, 30070, 'nginx'));
