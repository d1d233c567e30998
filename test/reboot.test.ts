import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, test } from 'node:test';
import { listPids, procEnvValue, procStat } from '../src/system/proc.js';
import { MARKER_ENV } from '../src/runtime/process-table.js';
import type { InstanceStatus } from '../src/core/results.js';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/** A reboot: every process of a home (berthd, the proxy, every instance) killed at once, then `berth daemon start`. */
const ORDERED = path.join(REPO, 'test', 'fixtures', 'ordered.mjs');
const home = new TestHome('30000-30099');
const P = home.httpPort;
const API_PORT = 30050;
after(() => home.cleanup());

/** Every live process this home started: berthd and the proxy carry its BERTH_HOME, instances its marker. */
function processesOfHome(): number[] {
  const marker = createHash('sha256').update(home.home).digest('hex').slice(0, 12) + ':';
  return listPids().filter((pid) => {
    if (pid === process.pid || procStat(pid)?.state === 'Z') return false;
    return procEnvValue(pid, 'BERTH_HOME') === home.home || procEnvValue(pid, MARKER_ENV)?.startsWith(marker);
  });
}

const stack = `app: stack
services:
  api:
    run: ["${NODE}", "${ORDERED}"]
    port: ${API_PORT}
    env: { LISTEN_DELAY_MS: "1500" }
    routes: [{ host: api.test, tls: off }]
  web:
    run: ["${NODE}", "${ORDERED}"]
    depends_on: [api]
    env: { NEEDS: "http://127.0.0.1:${API_PORT}/" }
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

async function routeAnswers(host: string): Promise<{ pid: number; needsWasUp: boolean | null } | undefined> {
  const r = await hit(P, host, '/').catch(() => undefined);
  return r?.status === 200 ? r.json() : undefined;
}

test('after a reboot (every process of the home SIGKILLed), berthd starts each current release in dependency order', async () => {
  assertOk(await home.cli('daemon', 'start'));
  assertOk(await home.cli('deploy', home.app('stack', stack)), 'deploy stack');
  assertOk(await home.cli('deploy', home.app('solo', solo)), 'deploy solo');
  assert.equal((await waitFor('web.test', () => routeAnswers('web.test'))).needsWasUp, true);
  await waitFor('solo.test', () => routeAnswers('solo.test'));

  const before = processesOfHome();
  const daemon = home.daemonPid() as number;
  assert.ok(before.includes(daemon), 'berthd is among the processes of the home');
  assert.ok(before.length >= 2 + 3 + 1, `berthd, the proxy and 3 instances at least: ${before.length}`);
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
    /^restarted r1 after a reboot .*: wave 1: api\[0\]; wave 2: web\[0\]$/,
  );
});
