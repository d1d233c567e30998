import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { RouteView } from '../src/api/routes-view.js';
import { hit, isAlive } from './helpers/http.js';
import { NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { assertOk } from './helpers/home.js';
import { wrk } from './helpers/proxy-process.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('23700-23799');
const P = home.httpPort;
before(() => home.cli('daemon', 'start'));
after(() => home.cleanup());

const svc = (extra = '') => `    run: ["${NODE}", "${SERVER}"]\n${extra}`;

test('a route claimed by another app is refused at up time, naming both owners, and nothing changes', async () => {
  assertOk(
    await home.cli(
      'up',
      home.app('shop', `app: shop\nservices:\n  web:\n${svc('    routes: ["shop.test", "shop.test/api/"]\n')}`),
    ),
  );
  const r = await home.cli(
    'up',
    home.app('rival', `app: rival\nservices:\n  api:\n${svc('    routes: [{ host: shop.test, path: /api/ }]\n')}`),
  );
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /route shop\.test\/api\/ of rival\/production\/api is already claimed by shop\/production\/web/,
  );
  assert.equal((await home.cli('ps', 'rival')).code, 1);
  const routes = await home.json<RouteView[]>('routes');
  assert.deepEqual(routes.map((x) => `${x.host}${x.path} ${x.app}/${x.service}`).sort(), [
    'shop.test/ shop/web',
    'shop.test/api/ shop/web',
  ]);
  for (const key of ['host', 'path', 'app', 'env', 'service', 'upstream', 'healthy'])
    assert.ok(key in (routes[0] as object), key);
});

test('only healthy instances receive traffic', async () => {
  const flag = path.join(home.root, 'flag');
  writeFileSync(flag, '');
  const dir = home.app(
    'gated',
    `app: gated\nservices:\n  web:\n${svc(`    instances: 2\n    restart: never\n    env: { HEALTH_FILE: "${flag}" }\n    health: { http: /healthz, interval: 200ms, unhealthy_threshold: 1 }\n    routes: [gated.test]\n`)}`,
  );
  assertOk(await home.cli('up', dir));
  const pids = new Set<number>();
  for (let i = 0; i < 6; i++) pids.add((await hit(P, 'gated.test', '/')).json().pid);
  assert.equal(pids.size, 2, 'both healthy instances get requests');
  rmSync(flag);
  await waitFor(
    'the route to lose its upstreams',
    async () => (await home.json<RouteView[]>('routes')).find((r) => r.app === 'gated')?.healthy === false,
    10_000,
  );
  assert.equal((await hit(P, 'gated.test', '/')).status, 502);
  writeFileSync(flag, '');
  await waitFor('healthy again', async () => (await hit(P, 'gated.test', '/')).status === 200, 10_000);
  await home.cli('stop', 'gated');
  assert.equal((await hit(P, 'gated.test', '/')).status, 502);
});

test('berthd killed with SIGKILL under load: zero failed requests; the proxy serves on', async () => {
  const dir = home.app(
    'steady',
    `app: steady\nservices:\n  web:\n${svc('    instances: 2\n    routes: [steady.test]\n')}`,
  );
  assertOk(await home.cli('up', dir));
  let afterRevival = 0;
  const killAndRevive = (async () => {
    await waitFor('the load reaching the app', async () => (await hit(P, 'steady.test', '/')).status === 200, 10_000);
    const daemon = home.daemonPid() as number;
    process.kill(daemon, 'SIGKILL');
    await waitFor('berthd gone', () => !isAlive(daemon), 5000);
    assert.equal((await home.cli('ps', 'steady')).code, 0, 'the next command brings berthd back');
    afterRevival = (await hit(P, 'steady.test', '/')).status;
  })();
  const r = await wrk(`http://127.0.0.1:${P}/`, {
    connections: 50,
    seconds: 600,
    host: 'steady.test',
    until: killAndRevive,
  });
  await killAndRevive;
  assert.equal(afterRevival, 200, 'the proxy answered after berthd came back');
  assert.ok(r.requests > 500, r.output);
  assert.equal(r.errors, 0, r.output);
  assert.equal(r.non2xx, 0, r.output);
});

test('a dead proxy is restarted by berthd and serves its last routes', async () => {
  const before = await home.json<{ pid: number }>('proxy', 'status');
  process.kill(before.pid, 'SIGKILL');
  await waitFor(
    'a new proxy',
    async () => {
      const s = await home.json<{ pid?: number; running: boolean }>('proxy', 'status');
      return s.running && s.pid !== before.pid;
    },
    10_000,
  );
  assert.equal((await hit(P, 'steady.test', '/')).status, 200);
});

test("a static service's build runs in its cwd; static: stays relative to berth.yaml", async () => {
  const dir = home.app(
    'docs',
    `app: docs\nservices:\n  site:\n    cwd: frontend\n    build: "mkdir -p out && cat page.txt > out/index.html"\n    static: frontend/out\n    routes: [docs.test]\n`,
    { 'frontend/page.txt': 'built in frontend' },
  );
  assertOk(await home.cli('deploy', dir));
  assert.equal((await hit(P, 'docs.test', '/')).text(), 'built in frontend');
});
