import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startBackend, webSocketExchange, type Backend } from './helpers/backends.js';
import { hit } from './helpers/http.js';
import { ProxyProcess, wrk } from './helpers/proxy-process.js';
import { sleep, waitFor } from './helpers/home.js';

const root = mkdtempSync(path.join(tmpdir(), 'berth-proxy-'));
const PORT = 18005;
const proxy = new ProxyProcess(path.join(root, 'home'), PORT);
let a: Backend;
let b: Backend;
const up = (x: Backend) => `127.0.0.1:${x.port}`;

before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
  await proxy.start();
});
after(async () => {
  await proxy.kill();
  await a.close();
  await b.close();
  rmSync(root, { recursive: true, force: true });
});

test('host and path routing: longest prefix wins, strip removes the prefix, X-Forwarded-* are set', async () => {
  await proxy.routes([
    { host: 'shop.test', upstreams: [up(a)] },
    { host: 'shop.test', path: '/api/', strip: true, upstreams: [up(b)] },
    { host: 'shop.test', path: '/api/v2', upstreams: [up(a)], service: 'v2' },
    { host: 'api.shop.test', upstreams: [up(b)] },
  ]);
  const home = (await hit(PORT, 'shop.test', '/about?x=1')).json();
  assert.deepEqual([home.backend, home.url], ['a', '/about?x=1']);
  const api = (await hit(PORT, 'shop.test', '/api/users?id=2')).json();
  assert.deepEqual([api.backend, api.url], ['b', '/users?id=2']);
  assert.equal(api.headers['x-forwarded-host'], 'shop.test');
  assert.equal(api.headers['x-forwarded-proto'], 'http');
  assert.equal(api.headers['x-forwarded-for'], '127.0.0.1');
  const v2 = (await hit(PORT, 'shop.test', '/api/v2/items')).json();
  assert.deepEqual([v2.backend, v2.url], ['a', '/api/v2/items']);
  assert.equal((await hit(PORT, 'shop.test', '/api/v2x')).json().url, '/v2x', '"/api/v2" does not cover "/api/v2x"');
  assert.equal((await hit(PORT, 'API.Shop.Test:8080', '/')).json().backend, 'b', 'host matching ignores case and port');
  const chained = (await hit(PORT, 'shop.test', '/', { headers: { 'x-forwarded-for': '203.0.113.9' } })).json();
  assert.equal(chained.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
});

test('unknown host: a bare 404; dead upstream or none healthy: a clear 502 page', async () => {
  await proxy.routes([
    { host: 'dead.test', upstreams: ['127.0.0.1:1'] },
    { host: 'empty.test', upstreams: [] },
  ]);
  const missing = await hit(PORT, 'nobody.test', '/');
  assert.equal(missing.status, 404);
  assert.equal(missing.text(), '404 Not Found\n');
  assert.equal(missing.headers['x-powered-by'], undefined);
  for (const host of ['dead.test', 'empty.test']) {
    const r = await hit(PORT, host, '/');
    assert.equal(r.status, 502);
    assert.match(r.text(), /<h1>502 Bad Gateway<\/h1><p>The application behind this address is not answering/);
  }
});

test('bodies stream both ways (8 MiB up, the same 8 MiB back)', async () => {
  await proxy.routes([{ host: 'echo.test', upstreams: [up(a)] }]);
  const body = randomBytes(8 * 1024 * 1024);
  const r = await hit(PORT, 'echo.test', '/echo', { method: 'POST', body });
  assert.equal(r.status, 200);
  assert.equal(createHash('sha256').update(r.body).digest('hex'), createHash('sha256').update(body).digest('hex'));
});

test('connections to upstreams are pooled and kept alive', async () => {
  await proxy.routes([{ host: 'pool.test', upstreams: [up(b)] }]);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const before = b.connections;
  for (let i = 0; i < 50; i++) assert.equal((await hit(PORT, 'pool.test', `/${i}`, { agent })).status, 200);
  agent.destroy();
  assert.ok(b.connections - before <= 2, `${b.connections - before} upstream connections for 50 sequential requests`);
});

test('WebSocket upgrade through the proxy: echo', async () => {
  await proxy.routes([{ host: 'ws.test', path: '/socket/', strip: true, upstreams: [up(b)] }]);
  const r = await webSocketExchange(PORT, 'ws.test', '/socket/chat', ['hello', 'again']);
  assert.equal(r.status, 'HTTP/1.1 101 Switching Protocols');
  assert.deepEqual(r.replies, ['b: hello', 'b: again']);
  const unknown = await webSocketExchange(PORT, 'nowhere.test', '/', ['x']);
  assert.equal(unknown.status, 'HTTP/1.1 404 Not Found');
});

test('a route change swaps atomically: an in-flight request finishes on the table it started with', async () => {
  const slow = await startBackend('slow', { delayMs: 800 });
  try {
    await proxy.routes([{ host: 'swap.test', upstreams: [up(slow)] }]);
    const inflight = hit(PORT, 'swap.test', '/long');
    await sleep(200);
    await proxy.routes([{ host: 'swap.test', upstreams: [up(a)] }]);
    assert.equal((await hit(PORT, 'swap.test', '/new')).json().backend, 'a');
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.json().backend, 'slow');
  } finally {
    await slow.close();
  }
});

test('static files: types, index.html, SPA fallback, ETag, and no way out of the root', async () => {
  const site = path.join(root, 'site');
  mkdirSync(path.join(site, 'assets'), { recursive: true });
  writeFileSync(path.join(site, 'index.html'), '<h1>app</h1>');
  writeFileSync(path.join(site, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(path.join(site, 'assets', 'style.css'), 'body{}');
  writeFileSync(path.join(root, 'secret.txt'), 'TOP SECRET');
  symlinkSync(path.join(root, 'secret.txt'), path.join(site, 'leak.txt'));
  symlinkSync(root, path.join(site, 'up'));
  // A chain where each link stays inside as written, and the whole leads out (Node's JS realpath gets this wrong).
  mkdirSync(path.join(site, 'd'));
  symlinkSync('..', path.join(site, 'd', 'l1'));
  symlinkSync('d/l1/..', path.join(site, 'chain'));
  await proxy.routes([
    { host: 'spa.test', upstreams: [], static: { root: site, spa: true } },
    { host: 'plain.test', upstreams: [], static: { root: site, spa: false } },
  ]);
  const index = await hit(PORT, 'spa.test', '/');
  assert.equal(index.status, 200);
  assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(
    (await hit(PORT, 'spa.test', '/assets/app.js')).headers['content-type'],
    'text/javascript; charset=utf-8',
  );
  assert.equal((await hit(PORT, 'spa.test', '/assets/style.css')).headers['content-type'], 'text/css; charset=utf-8');
  assert.equal((await hit(PORT, 'spa.test', '/deep/client/route')).text(), '<h1>app</h1>', 'SPA fallback');
  assert.equal((await hit(PORT, 'spa.test', '/assets/missing.js')).status, 404, 'no SPA fallback for a missing file');
  assert.equal((await hit(PORT, 'plain.test', '/deep/client/route')).status, 404);
  const etag = index.headers.etag as string;
  assert.ok(etag);
  assert.equal((await hit(PORT, 'spa.test', '/', { headers: { 'if-none-match': etag } })).status, 304);
  for (const attempt of [
    '/../secret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/..%252fsecret.txt',
    '/%252e%252e%252fsecret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/leak.txt',
    '/up/secret.txt',
    '/chain/secret.txt',
    '/..%5csecret.txt',
    '/%00/secret.txt',
  ]) {
    const r = await hit(PORT, 'plain.test', attempt);
    assert.equal(r.status, 404, `${attempt} answered ${r.status}`);
    assert.ok(!r.text().includes('TOP SECRET'), `${attempt} leaked the file`);
  }
  assert.equal((await hit(PORT, 'plain.test', '/', { method: 'POST' })).status, 405);
});

test('the proxy reloads its last routes when it restarts, without berthd', async () => {
  await proxy.routes([{ host: 'persist.test', upstreams: [up(a)] }]);
  await proxy.kill('SIGKILL');
  await proxy.start();
  assert.equal((await hit(PORT, 'persist.test', '/')).json().backend, 'a');
  assert.equal((await proxy.table()).routes.length, 1);
});

test('swapping upstreams back and forth under load (wrk, 50 keep-alive connections, 20 swaps): zero failed requests', async () => {
  await proxy.routes([{ host: 'load.test', upstreams: [up(a)] }]);
  let swaps = 0;
  const swapping = { on: true };
  const swapper = (async () => {
    while (swapping.on) {
      await sleep(250);
      await proxy.routes([{ host: 'load.test', upstreams: [swaps % 2 === 0 ? up(b) : up(a)] }]);
      swaps++;
    }
  })();
  const twentySwaps = waitFor('20 swaps', () => swaps >= 20, 120_000);
  const r = await wrk(`http://127.0.0.1:${PORT}/`, {
    connections: 50,
    seconds: 600,
    host: 'load.test',
    until: twentySwaps,
  });
  swapping.on = false;
  await swapper;
  await twentySwaps;
  assert.ok(r.requests > 1000, r.output);
  assert.equal(r.errors, 0, r.output);
  assert.equal(r.non2xx, 0, r.output);
});

void waitFor;
