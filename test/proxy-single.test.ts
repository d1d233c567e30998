import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { listPids, procArgv, procEnvValue, procStat } from '../src/system/proc.js';
import { hit } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/** One Caddy and one builtin proxy per BERTH_HOME, whatever `berth proxy stop` and `start` race with. */
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('26100-26199');
const P = home.httpPort;
Object.assign(home.env, { BERTH_PROXY: 'caddy', BERTH_INTERNAL_PORT: '18161', BERTH_HTTPS_PORT: '18261' });
const config = () => path.join(home.home, 'caddy', 'caddy.json');

/** This home's Caddy and builtin proxy processes, read from /proc. */
function proxies(): { caddy: number[]; builtin: number[] } {
  const out = { caddy: [] as number[], builtin: [] as number[] };
  for (const pid of listPids()) {
    const st = procStat(pid);
    if (!st || st.state === 'Z') continue;
    const argv = procArgv(pid);
    if (argv.includes(config())) out.caddy.push(pid);
    else if (argv[1]?.endsWith('/proxy/builtin/main.js') && procEnvValue(pid, 'BERTH_HOME') === home.home)
      out.builtin.push(pid);
  }
  return out;
}

const served = async () => (await hit(P, 'one.test', '/').catch(() => undefined))?.status === 200;

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  const app = `app: one\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [{ host: one.test, tls: off }]\n`;
  assertOk(await home.cli('deploy', home.app('one', app)));
});
after(() => home.cleanup());

test('quick proxy stop and start, also at once: never two Caddys or two builtin proxies, and stop says "stopped"', async () => {
  for (let i = 0; i < 4; i++) {
    const stopped = await home.cli('proxy', 'stop');
    assertOk(stopped);
    assert.equal(stopped.stdout.trim(), 'caddy proxy stopped');
    assert.deepEqual(proxies(), { caddy: [], builtin: [] }, 'nothing of the proxy runs after stop');
    const started = await home.cli('proxy', 'start');
    assertOk(started);
    assert.match(started.stdout, /^caddy proxy running, pid \d+/);
    const p = proxies();
    assert.deepEqual([p.caddy.length, p.builtin.length], [1, 1], `one of each after start: ${JSON.stringify(p)}`);
    assert.equal(started.stdout.match(/pid (\d+)/)?.[1], String(p.caddy[0]), 'the pid reported is the Caddy that runs');
    assert.ok(await served());
  }
  // stop and start racing each other, with berthd's watcher in between: whoever wins, one of each or none.
  for (let i = 0; i < 3; i++) {
    await Promise.all([home.cli('proxy', 'stop'), home.cli('proxy', 'start'), home.cli('proxy', 'stop')]);
    await home.cli('proxy', 'start');
    const status = await home.json<{ running: boolean; pid?: number; leftovers?: unknown[] }>('proxy', 'status');
    const p = proxies();
    assert.deepEqual([p.caddy.length, p.builtin.length], [1, 1], `one of each: ${JSON.stringify(p)}`);
    assert.deepEqual([status.running, status.pid, status.leftovers], [true, p.caddy[0], undefined]);
  }
  assert.ok(await served());
  assertOk(await home.cli('deploy', path.join(home.root, 'apps', 'one')), 'deploys work');
});

test('a leftover Caddy of this home: status and doctor name it, proxy stop ends it', async () => {
  // An old Caddy of this home (same command line), serving an old config on a port of its own, with no admin API.
  const own = readFileSync(config(), 'utf8');
  writeFileSync(
    config(),
    JSON.stringify({
      admin: { disabled: true },
      apps: {
        http: {
          servers: {
            old: {
              listen: [`:${P + 50}`],
              automatic_https: { disable: true },
              routes: [{ handle: [{ handler: 'static_response', body: 'old config' }] }],
            },
          },
        },
      },
    }),
  );
  spawn('caddy', ['run', '--config', config()], {
    env: { PATH: process.env.PATH, HOME: path.join(home.root, 'old'), BERTH_TEST_HOME: home.home },
    stdio: 'ignore',
  });
  await waitFor(
    'the old Caddy',
    async () => (await hit(P + 50, 'x', '/').catch(() => undefined))?.text() === 'old config',
    30_000,
  );
  writeFileSync(config(), own);
  const status = await home.json<{ leftovers?: Array<{ pid: number; what: string }> }>('proxy', 'status');
  assert.equal(status.leftovers?.length, 1, JSON.stringify(status));
  const doctor = async () =>
    (JSON.parse((await home.cli('doctor', '--json')).stdout) as { findings: Array<{ code: string; message: string }> })
      .findings;
  const findings = await doctor();
  const leftover = findings.find((f) => f.code === 'proxy-leftover');
  assert.match(
    leftover?.message ?? JSON.stringify(findings),
    new RegExp(`^caddy pid ${(status.leftovers ?? []).map((x) => x.pid).join()} `),
  );
  const stopped = await home.cli('proxy', 'stop');
  assert.equal(stopped.stdout.trim(), 'caddy proxy stopped');
  assert.deepEqual(proxies(), { caddy: [], builtin: [] }, 'stop ended both Caddys');
  assert.equal(await hit(P + 50, 'x', '/').catch(() => 'refused'), 'refused', 'the old config is served no more');
  assertOk(await home.cli('proxy', 'start'));
  const p = proxies();
  assert.deepEqual([p.caddy.length, p.builtin.length], [1, 1]);
  assert.ok(await served());
  assert.ok(!(await doctor()).some((f) => f.code === 'proxy-leftover'));
});
