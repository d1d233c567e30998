import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hit } from './helpers/http.js';
import { NODE, REPO, TestHome } from './helpers/home.js';
import { assertOk } from './helpers/home.js';
import { wrk } from './helpers/proxy-process.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('24100-24199');
const P = home.httpPort;
before(() => home.cli('daemon', 'start'));
after(() => home.cleanup());

test('10 deploys in a row under load (wrk, 50 keep-alive connections, no retries): zero failed requests', async () => {
  const manifest = (v: number) =>
    `app: busy\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    instances: 2\n    env: { VERSION: "${v}" }\n    drain: 5s\n    routes: [busy.test]\n`;
  const dir = home.app('busy', manifest(0));
  assertOk(await home.cli('deploy', dir));
  const deploys = (async () => {
    for (let v = 1; v <= 10; v++) {
      writeFileSync(path.join(dir, 'berth.yaml'), manifest(v));
      const r = await home.cli('deploy', dir, '--json');
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.equal((JSON.parse(r.stdout) as { release: number }).release, v + 1);
    }
  })();
  // The load lasts as long as the ten deploys, however long the machine takes for them.
  const res = await wrk(`http://127.0.0.1:${P}/`, { connections: 50, seconds: 600, host: 'busy.test', until: deploys });
  await deploys;
  assert.ok(res.requests >= 1000, `only ${res.requests} requests`);
  assert.equal(res.errors, 0, res.output);
  assert.equal(res.non2xx, 0, res.output);
  assert.equal((await hit(P, 'busy.test', '/env')).json().VERSION, '10');
});

test('examples/stack (seed 003): ten services in four waves; a failure in wave 3 undoes every wave and the last release serves on', async () => {
  const dir = path.join(home.root, 'stack');
  cpSync(path.join(REPO, 'examples', 'stack'), dir, { recursive: true });
  const first = await home.json<{ status: string; steps: Array<{ name: string }> }>('deploy', dir);
  assert.equal(first.status, 'succeeded');
  assert.deepEqual(
    first.steps.filter((s) => s.name.startsWith('start wave')).map((s) => s.name),
    [
      'start wave 1: auth',
      'start wave 2: saleor, brain, wagtail, crm',
      'start wave 3: directory, temporal, coreldove, sourcing',
      'start wave 4: agents',
    ],
  );
  for (const svc of ['auth', 'saleor', 'agents'])
    assert.equal((await hit(P, 'api.stack.test', `/${svc}/`)).json().service, svc);
  const before = (await home.json<InstanceStatus[]>('ps', 'stack')).map((s) => [s.service, s.pid]);
  assert.equal(before.length, 10);
  const file = path.join(dir, 'berth.yaml');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace('env: { NAME: coreldove }', 'env: { NAME: coreldove, FAIL_START: coreldove }'),
  );
  const r = await home.cli('deploy', dir, '--json');
  assert.equal(r.code, 1);
  const failed = JSON.parse(r.stdout) as {
    status: string;
    error: string;
    steps: Array<{ name: string; status: string }>;
  };
  assert.equal(failed.status, 'failed');
  assert.match(failed.error, /start wave 3: .*stack\/coreldove\[0\] did not become ready/);
  assert.match(failed.error, /coreldove: cannot start: missing configuration/);
  assert.deepEqual(
    failed.steps.map((s) => s.name.split(':')[0]),
    [
      'snapshot source as release 2',
      'record release 2',
      'start wave 1',
      'start wave 2',
      'start wave 3',
      'start wave 4',
      'switch traffic to release 2',
      'drain release 1',
      'stop release 1',
      'prune old releases',
    ],
  );
  assert.deepEqual(
    failed.steps.map((s) => s.status),
    ['undone', 'undone', 'undone', 'undone', 'failed', 'pending', 'pending', 'pending', 'pending', 'pending'],
  );
  assert.deepEqual(
    (await home.json<InstanceStatus[]>('ps', 'stack')).map((s) => [s.service, s.pid]),
    before,
    'the previous release was never touched',
  );
  assert.equal((await hit(P, 'api.stack.test', '/coreldove/')).json().service, 'coreldove');
});
