/**
 * The builtin proxy's upstream leg, the flow of a request: a stale pooled connection retried (GET
 * only), a refused or dropped GET sent on to the route's next upstream, a chunked upload, an answer before the upload ends, the upstream timeout. Framing:
 * test/proxy-upstream.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { startBackend, type Backend } from './helpers/backends.js';
import { hit } from './helpers/http.js';
import { rawUpstream, upstreamProxy } from './helpers/raw-upstream.js';

const PORT = 18018;
const { proxy, keepAlive, via } = upstreamProxy(PORT);
let echo: Backend;
before(async () => (echo = await startBackend('echo')));
after(() => echo.close());

test('a pooled connection the upstream dropped while idle: GET is retried once on a new connection, POST is not', async () => {
  // Every connection answers its first request and drops on the second, as a server whose idle timeout just fired.
  const upstream = await rawUpstream((head, nth) =>
    nth > 0 ? null : `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`,
  );
  try {
    assert.equal((await via(upstream, 'stale.test', '/1')).text(), 'ok');
    assert.equal((await via(upstream, 'stale.test', '/2')).text(), 'ok', 'retried on a new connection');
    assert.equal(upstream.connections, 2);
    const post = await via(upstream, 'stale.test', '/3', { method: 'POST', body: 'x' });
    assert.equal(post.status, 502, 'a POST may have had effects: not sent twice');
  } finally {
    await upstream.close();
  }
});

test("an upstream that refuses a request or drops it before answering: GET goes on to the route's others, POST is not resent", async () => {
  const dropping = await rawUpstream(() => null); // reads each request and closes, as a task ending on SIGTERM
  const hosts = [`127.0.0.1:1`, `127.0.0.1:${dropping.port}`, `127.0.0.1:${echo.port}`];
  try {
    await proxy.routes([{ host: 'next.test', upstreams: hosts }]);
    for (let i = 0; i < 6; i++) {
      const r = await hit(PORT, 'next.test', `/${i}`, { agent: keepAlive });
      assert.deepEqual([r.status, r.json().backend], [200, 'echo'], `request ${i}: on to the upstream that answers`);
    }
    const sent = dropping.requests.length;
    assert.ok(sent > 0, 'the dropping upstream was tried');
    await proxy.routes([{ host: 'next.test', upstreams: [hosts[1]!, hosts[2]!] }]);
    const posts = await Promise.all([1, 2].map(() => hit(PORT, 'next.test', '/p', { method: 'POST', body: 'x' })));
    assert.ok(
      posts.some((r) => r.status === 502),
      'a POST the upstream dropped is not sent to another one',
    );
    assert.equal(dropping.requests.length, sent + 1);
  } finally {
    await dropping.close();
  }
});

test('a chunked upload (no Content-Length) is forwarded chunked and arrives whole', async () => {
  await proxy.routes([{ host: 'upload.test', upstreams: [`127.0.0.1:${echo.port}`] }]);
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: PORT, path: '/echo', method: 'PUT', headers: { host: 'upload.test' }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      },
    );
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 100_000) req.write(body.subarray(i, i + 100_000));
    req.end();
  });
  assert.equal(createHash('sha256').update(reply).digest('hex'), createHash('sha256').update(body).digest('hex'));
});

test('an answer before the upload ends: the client gets it and its connection still works', async () => {
  const upstream = await rawUpstream(
    (_h, _n, socket) => {
      socket.end('HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large');
      return undefined;
    },
    { early: true },
  ); // answers as soon as it has the head, and closes
  try {
    await proxy.routes([{ host: 'early.test', upstreams: [`127.0.0.1:${upstream.port}`] }]);
    const big = await hit(PORT, 'early.test', '/up', {
      method: 'POST',
      body: randomBytes(4 * 1024 * 1024),
      agent: keepAlive,
    });
    assert.deepEqual([big.status, big.text()], [413, 'too large']);
    await proxy.routes([{ host: 'early.test', upstreams: [`127.0.0.1:${echo.port}`] }]);
    assert.equal((await hit(PORT, 'early.test', '/after', { agent: keepAlive })).json().backend, 'echo');
  } finally {
    await upstream.close();
  }
});

test('an upstream that does not start its answer in time gets a 504; one that has started streams as long as it takes', async () => {
  const upstream = await rawUpstream((head, _n, socket) => {
    if (head.startsWith('GET /slow-body')) {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nfirst');
      setTimeout(() => socket.write('last'), 1500);
    }
    return undefined; // /silent: never answers
  });
  try {
    const t0 = Date.now();
    const silent = await via(upstream, 'timeout.test', '/silent');
    assert.equal(silent.status, 504);
    assert.match(silent.text(), /504 Gateway Timeout/);
    assert.ok(Date.now() - t0 >= 900, `answered after ${Date.now() - t0} ms, before upstream_timeout (1 s)`);
    const slow = await via(upstream, 'timeout.test', '/slow-body');
    assert.deepEqual([slow.status, slow.text()], [200, 'firstlast']);
  } finally {
    await upstream.close();
  }
});
