import assert from 'node:assert/strict';
import { cpSync, existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { RouteView } from '../src/api/routes-view.js';
import { initRepo } from './helpers/git.js';
import { hit } from './helpers/http.js';
import { REPO, TestHome } from './helpers/home.js';

const home = new TestHome('23600-23699');
const P = home.httpPort;
before(() => home.cli('daemon', 'start'));
after(() => home.cleanup());

async function upExample(name: string): Promise<void> {
  const r = await home.cli('up', path.join(REPO, 'examples', name));
  assert.equal(r.code, 0, r.stderr);
}

test('examples/forgetrace (seed 001): SPA on www and the bare host, API on api. and /api/', async () => {
  await upExample('forgetrace');
  for (const host of ['www.forgetrace.test', 'forgetrace.test']) {
    const r = await hit(P, host, '/');
    assert.equal(r.status, 200);
    assert.match(r.text(), /<h1>ForgeTrace<\/h1>/);
  }
  assert.match(
    (await hit(P, 'www.forgetrace.test', '/scans/42')).text(),
    /<h1>ForgeTrace<\/h1>/,
    'client-side route falls back to index.html',
  );
  assert.equal(
    (await hit(P, 'www.forgetrace.test', '/assets/app.js')).headers['content-type'],
    'text/javascript; charset=utf-8',
  );
  assert.deepEqual((await hit(P, 'api.forgetrace.test', '/api/v1/scans')).json().scans[0].repo, 'example/app');
  assert.deepEqual((await hit(P, 'forgetrace.test', '/api/api/v1/scans')).json().scans.length, 1);
  assert.equal((await hit(P, 'forgetrace.test', '/api/health')).json().status, 'ok');
  const routes = await home.json<RouteView[]>('routes');
  assert.deepEqual(
    routes
      .filter((r) => r.app === 'forgetrace')
      .map((r) => [r.host, r.path, r.service, r.healthy])
      .sort(),
    [
      ['api.forgetrace.test', '/', 'backend', true],
      ['forgetrace.test', '/', 'www', true],
      ['forgetrace.test', '/api/', 'backend', true],
      ['www.forgetrace.test', '/', 'www', true],
    ],
  );
});

test('examples/autoauthor (seed 000): front end, backend and CMS by host and path', async () => {
  await upExample('autoauthor');
  assert.match((await hit(P, 'autoauthor.test', '/dashboard')).text(), /<h1>Auto-Author<\/h1><p>\/dashboard<\/p>/);
  assert.equal((await hit(P, 'autoauthor.test', '/api/books')).json().books[0].title, 'Draft');
  assert.deepEqual((await hit(P, 'autoauthor.test', '/admin/content')).json(), { cms: true, path: '/admin/content' });
  assert.deepEqual((await hit(P, 'cms.autoauthor.test', '/')).json(), { cms: true, path: '/' });
  const ps = await home.json<Array<{ app: string; service: string; state: string }>>('ps', 'autoauthor');
  assert.deepEqual(
    ps.map((s) => [s.service, s.state]),
    [
      ['backend', 'healthy'],
      ['cms', 'healthy'],
      ['frontend', 'healthy'],
    ],
  );
});

test('examples/clawd (seed 004): SQLite in $DATA_DIR', async () => {
  // clawd declares environments by branch: `berth up` deploys the checkout's branch, so it runs from a checkout of main
  // (whatever this repository has checked out). test/environments.test.ts takes it through feature branches.
  const dir = path.join(home.root, 'clawd');
  cpSync(path.join(REPO, 'examples', 'clawd'), dir, { recursive: true });
  initRepo(dir, 'clawd');
  assert.equal((await home.cli('up', dir)).code, 0);
  const created = await hit(P, 'api.clawd.test', '/messages', { method: 'POST', body: 'hello from the test' });
  assert.equal(created.status, 201);
  const list = (await hit(P, 'api.clawd.test', '/messages')).json();
  assert.deepEqual(
    list.messages.map((m: { text: string }) => m.text),
    ['hello from the test'],
  );
  assert.equal(list.db, path.join(home.home, 'data', 'clawd', 'production', 'clawd.db'));
  assert.ok(existsSync(list.db));
  assert.ok(!existsSync(path.join(dir, 'clawd.db')), 'nothing is written into the checkout');
});

test('examples/hello: two services, one host, /api/ stripped', async () => {
  await upExample('hello');
  assert.equal((await hit(P, 'hello.localhost', '/api/ping')).json().path, '/ping');
  assert.equal((await hit(P, 'hello.localhost', '/ping')).json().service, 'web');
});
