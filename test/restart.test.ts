import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hit } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { wrk } from './helpers/proxy-process.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('31200-31299');
const P = home.httpPort;
const squatters: ChildProcess[] = [];
before(() => home.cli('daemon', 'start'));
after(async () => {
  for (const s of squatters) s.kill();
  await home.cleanup();
});

const ps = (app: string) => home.json<InstanceStatus[]>('ps', app);

/** A foreign process listening on `port`, as a forgotten server would. */
async function squat(port: number): Promise<ChildProcess> {
  const s = spawn(NODE, [SERVER], {
    env: { PATH: process.env.PATH, PORT: String(port), BERTH_TEST_HOME: home.home },
    stdio: 'ignore',
  });
  squatters.push(s);
  await waitFor('the squatter to listen', () =>
    hit(port, 'x', '/').then(
      () => true,
      () => false,
    ),
  );
  return s;
}

test('berth restart of a routed blue-green service under load (wrk, 50 keep-alive connections): zero failed requests', async () => {
  const dir = home.app(
    'swap',
    `app: swap\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    instances: 2\n    drain: 2s\n    routes: [swap.test]\n`,
  );
  assertOk(await home.cli('deploy', dir));
  const before = await ps('swap');
  const restarts = (async () => {
    await new Promise((r) => setTimeout(r, 500)); // the load is running
    for (let i = 0; i < 2; i++) assertOk(await home.cli('restart', 'swap'));
  })();
  // The load lasts as long as the restarts, however long the machine takes for them.
  const res = await wrk(`http://127.0.0.1:${P}/`, {
    connections: 50,
    seconds: 600,
    host: 'swap.test',
    until: restarts,
  });
  await restarts;
  assert.ok(res.requests > 0, res.output);
  assert.equal(res.errors, 0, res.output);
  assert.equal(res.non2xx, 0, res.output);
  const now = await ps('swap');
  assert.deepEqual(
    now.map((v) => [v.service, v.instance, v.state]),
    [
      ['web', 0, 'healthy'],
      ['web', 1, 'healthy'],
    ],
    'the replacements took the old instances places',
  );
  for (const v of now) assert.ok(!before.some((b) => b.pid === v.pid), 'every instance is a new process');
  const served = new Set<number>();
  for (let i = 0; i < 20; i++) served.add((await hit(P, 'swap.test', '/')).json().port as number);
  assert.deepEqual([...served].sort(), now.map((v) => v.port).sort(), 'the proxy serves the new instances only');
});

test('berth start checks its port: a port: auto service takes a new lease, a pinned one is refused naming the holder', async () => {
  const dir = home.app(
    'portcheck',
    `app: portcheck\nservices:\n  auto:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [auto.portcheck.test]\n  pinned:\n    run: ["${NODE}", "${SERVER}"]\n    port: 26790\n    routes: [pinned.portcheck.test]\n`,
  );
  assertOk(await home.cli('deploy', dir));
  const old = (await ps('portcheck')).find((v) => v.service === 'auto') as InstanceStatus;
  assertOk(await home.cli('stop', 'portcheck'));
  await squat(old.port as number);
  const pinnedSquatter = await squat(26790);
  const [started] = await home.json<InstanceStatus[]>('start', 'portcheck', 'auto');
  assert.ok(started);
  assert.equal(started.state, 'healthy');
  assert.notEqual(started.port, old.port, 'a new lease');
  assert.equal((await hit(P, 'auto.portcheck.test', '/')).json().port, started.port);
  const refused = await home.cli('start', 'portcheck', 'pinned');
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(
    refused.stderr,
    new RegExp(`cannot start portcheck/pinned\\[0\\]: its pinned port 26790 is held by pid ${pinnedSquatter.pid} `),
  );
  assert.equal((await ps('portcheck')).find((v) => v.service === 'pinned')?.state, 'stopped');
});

test('a pinned-port (recreate) deploy says in its step list that the service is down for the switch, and how long', async () => {
  const manifest = (v: string) =>
    `app: pinned\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    port: 26791\n    env: { VERSION: "${v}" }\n    routes: [pinned.test]\n`;
  const dir = home.app('pinned', manifest('1'));
  assertOk(await home.cli('deploy', dir));
  home.app('pinned', manifest('2'));
  const r = await home.json<{ steps: Array<{ name: string; detail?: string }> }>('deploy', dir);
  const wave = r.steps.find((s) => s.name.startsWith('start wave'));
  assert.equal(wave?.detail, 'web down until the switch (strategy recreate: the old instances stop first)');
  const sw = r.steps.find((s) => s.name.startsWith('switch traffic'));
  assert.match(sw?.detail ?? '', /^web was down for the switch for \d+ ms \(strategy recreate\)$/);
  const text = await home.cli('releases', 'pinned', '--json');
  assert.match(text.stdout, /web was down for the switch for \d+ ms/);
  assert.equal((await hit(P, 'pinned.test', '/env')).json().VERSION, '2');
});
