/**
 * The builtin proxy's upstream leg, framing: its own HTTP/1.1 client over pooled connections, the
 * real proxy process against upstreams that write exact bytes on a raw TCP socket. Retries,
 * uploads and timeouts: test/proxy-upstream-flow; the response parser on its own: test/response-parser.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { rawUpstream, upstreamProxy } from './helpers/raw-upstream.js';

const PORT = 18091;
const { proxy, via } = upstreamProxy(PORT);

/** Writes raw bytes to the proxy and collects what comes back until the proxy closes or `ms` pass. */
function rawClient(bytes: string, ms = 1000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(PORT, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    const timer = setTimeout(() => (socket.destroy(), resolve({ text, closed: false })), ms);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (clearTimeout(timer), resolve({ text, closed: true })));
  });
}

test('chunked and close-delimited responses arrive whole; only a cleanly ended response leaves its connection in the pool', async () => {
  const pieces = [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chu',
    'nked\r\nContent-Type: text/plain\r\n\r\n4\r\nwi',
    'ki\r\n5\r\npedia\r\n0\r\n\r\n',
  ];
  const chunked = await rawUpstream((_h, _n, socket) => {
    pieces.forEach((p, i) => setTimeout(() => socket.write(p), i * 20));
    return undefined;
  });
  const closing = await rawUpstream((_h, _n, socket) => {
    socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, then close');
    return undefined;
  });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await via(chunked, 'chunked.test', `/${i}`);
      assert.deepEqual([r.status, r.text(), r.headers['content-type']], [200, 'wikipedia', 'text/plain']);
    }
    assert.equal(
      chunked.connections,
      1,
      'a chunked response that ended cleanly leaves its connection for the next request',
    );
    for (let i = 0; i < 3; i++) assert.equal((await via(closing, 'close.test')).text(), 'all of it, then close');
    assert.equal(closing.connections, 3);
  } finally {
    await chunked.close();
    await closing.close();
  }
});

test('hop-by-hop headers, and those a Connection header names, stop at the proxy in both directions; repeated headers stay repeated', async () => {
  const upstream = await rawUpstream(() =>
    [
      'HTTP/1.1 200 OK',
      'Connection: x-upstream-private',
      'X-Upstream-Private: 1',
      'Keep-Alive: timeout=1, max=3',
      'Set-Cookie: a=1',
      'Set-Cookie: b=2',
      'Proxy-Authenticate: Basic',
      'Content-Length: 2',
      '',
      'ok',
    ].join('\r\n'),
  );
  try {
    const r = await via(upstream, 'hop.test', '/h', {
      headers: {
        connection: 'keep-alive, X-Client-Private',
        'x-client-private': 'secret',
        te: 'trailers',
        'proxy-authorization': 'Basic eA==',
        'x-multi': 'one',
        cookie: 'a=1; berth_session=berths_secret; b=2',
      },
    });
    assert.equal(r.text(), 'ok');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(r.headers['x-upstream-private'], undefined);
    assert.equal(r.headers['proxy-authenticate'], undefined);
    assert.notEqual(
      r.headers['keep-alive'],
      'timeout=1, max=3',
      "the upstream's own keep-alive terms are not the client's",
    );
    const seen = upstream.requests.at(-1)!.toLowerCase();
    for (const name of ['x-client-private', 'te:', 'proxy-authorization', 'connection: keep-alive'])
      assert.ok(!seen.includes(name), `${name} reached the upstream:\n${seen}`);
    assert.match(seen, /^get \/h http\/1\.1\r\n/);
    assert.match(seen, /\r\nhost: hop\.test\r\n/);
    assert.match(seen, /\r\nx-forwarded-for: 127\.0\.0\.1\r\n/);
    assert.match(seen, /\r\ncookie: a=1; b=2\r\n/, "Berth's dashboard session never reaches an app on the same host");
    await via(upstream, 'hop.test', '/only', { headers: { cookie: 'berth_session=berths_secret' } });
    assert.ok(!upstream.requests.at(-1)!.toLowerCase().includes('cookie'), upstream.requests.at(-1));
  } finally {
    await upstream.close();
  }
});

test('framing headers cannot be removed or doubled by the client: no request smuggled behind another, no second Host', async () => {
  const upstream = await rawUpstream((head) => {
    const p = /^\w+ (\S+)/.exec(head)![1]!;
    return `HTTP/1.1 200 OK\r\nContent-Length: ${p.length + 13}\r\n\r\nresponse for ${p}`;
  });
  try {
    await proxy.routes([{ host: 'frame.test', upstreams: [`127.0.0.1:${upstream.port}`] }]);
    const hidden = 'GET /smuggled HTTP/1.1\r\nHost: frame.test\r\n\r\n';
    const attack = await rawClient(
      `POST /a HTTP/1.1\r\nHost: frame.test\r\nConnection: keep-alive, Content-Length, Transfer-Encoding, Host\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`,
      500,
    );
    assert.match(attack.text, /^HTTP\/1\.1 200 OK[\s\S]*response for \/a$/);
    const victim = await via(upstream, 'frame.test', '/victim');
    assert.equal(victim.text(), 'response for /victim');
    assert.deepEqual(
      upstream.requests.map((h) => h.split('\r\n')[0]),
      ['POST /a HTTP/1.1', 'GET /victim HTTP/1.1'],
      'the body stayed a body',
    );
    assert.match(upstream.requests[0]!, new RegExp(`\r\ncontent-length: ${hidden.length}(\r\n|$)`));
    await rawClient('GET /two-hosts HTTP/1.1\r\nHost: frame.test\r\nHost: other.test\r\nConnection: close\r\n\r\n');
    const hosts = upstream.requests
      .at(-1)!
      .split('\r\n')
      .filter((l) => /^host:/i.test(l));
    assert.deepEqual(hosts, ['Host: frame.test'], 'one Host: the one the route was chosen by');
  } finally {
    await upstream.close();
  }
  const coded = await rawUpstream(
    (_h, _n, socket) => (socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), undefined),
    { early: true },
  );
  try {
    await proxy.routes([{ host: 'frame.test', upstreams: [`127.0.0.1:${coded.port}`] }]);
    await rawClient(
      'POST /gz HTTP/1.1\r\nHost: frame.test\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    );
    assert.match(
      coded.requests[0]!,
      /\r\ntransfer-encoding: gzip, chunked(\r\n|$)/,
      'the codings other than chunked still apply to the body, so they are declared',
    );
  } finally {
    await coded.close();
  }
});

test('a body that runs until the close: a clean close ends it, a reset cuts the client off instead of ending it cleanly', async () => {
  const upstream = await rawUpstream((head, _n, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npartial-');
    if (head.startsWith('GET /reset')) setTimeout(() => socket.resetAndDestroy(), 50);
    else setTimeout(() => socket.end('rest'), 50);
    return undefined;
  });
  try {
    await proxy.routes([{ host: 'cut.test', upstreams: [`127.0.0.1:${upstream.port}`] }]);
    const clean = await rawClient('GET /clean HTTP/1.1\r\nHost: cut.test\r\n\r\n', 1000);
    assert.match(clean.text, /\r\n\r\n8\r\npartial-\r\n4\r\nrest\r\n0\r\n\r\n$/, 'ends with the last chunk');
    const reset = await rawClient('GET /reset HTTP/1.1\r\nHost: cut.test\r\n\r\n', 3000);
    assert.ok(reset.closed, 'the client connection is closed');
    assert.match(reset.text, /partial-/);
    assert.ok(
      !reset.text.endsWith('0\r\n\r\n'),
      `a truncated body must not look complete: ${JSON.stringify(reset.text.slice(-40))}`,
    );
  } finally {
    await upstream.close();
  }
});

test('HEAD, 204, 304 and 1xx: no body is read where none follows, and the connection stays in step', async () => {
  const upstream = await rawUpstream((head) => {
    const p = /^\w+ (\S+)/.exec(head)![1];
    if (p === '/head') return 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/html\r\n\r\n';
    if (p === '/204') return 'HTTP/1.1 204 No Content\r\n\r\n';
    if (p === '/304') return 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n';
    if (p === '/twice') return 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\ntwice';
    if (p === '/continue') return 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ncontinued';
    return `HTTP/1.1 200 OK\r\nContent-Length: ${p!.length}\r\n\r\n${p}`;
  });
  try {
    const head = await via(upstream, 'head.test', '/head', { method: 'HEAD' });
    assert.deepEqual([head.status, head.headers['content-length'], head.body.length], [200, '1000', 0]);
    assert.equal((await via(upstream, 'head.test', '/after-head')).text(), '/after-head');
    assert.equal((await via(upstream, 'head.test', '/204')).status, 204);
    const notModified = await via(upstream, 'head.test', '/304');
    assert.deepEqual([notModified.status, notModified.headers.etag], [304, '"x"']);
    assert.equal((await via(upstream, 'head.test', '/continue')).text(), 'continued');
    const twice = await via(upstream, 'head.test', '/twice');
    assert.deepEqual(
      [twice.text(), twice.headers['content-length']],
      ['twice', '5'],
      'repeated equal lengths reach the client as one',
    );
    assert.equal((await via(upstream, 'head.test', '/last')).text(), '/last');
    assert.equal(upstream.connections, 1, 'every response ended where it should, so one connection carried them all');
  } finally {
    await upstream.close();
  }
});

test('a malformed response is a 502 and its connection is dropped; bytes after a response end the connection', async () => {
  const upstream = await rawUpstream((head) => {
    const p = /^\w+ (\S+)/.exec(head)![1];
    if (p === '/smuggle')
      return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged';
    if (p === '/extra')
      return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged';
    if (p === '/garbage') return 'hello there\r\n\r\n';
    return `HTTP/1.1 200 OK\r\nContent-Length: ${p!.length}\r\n\r\n${p}`;
  });
  try {
    const bad = await via(upstream, 'bad.test', '/smuggle');
    assert.equal(bad.status, 502);
    assert.match(bad.text(), /502 Bad Gateway/);
    assert.equal((await via(upstream, 'bad.test', '/next')).text(), '/next');
    assert.equal((await via(upstream, 'bad.test', '/garbage')).status, 502);
    assert.equal((await via(upstream, 'bad.test', '/extra')).text(), 'ok');
    assert.equal(
      (await via(upstream, 'bad.test', '/after-extra')).text(),
      '/after-extra',
      'the forged response is never served',
    );
    assert.equal(upstream.connections, 4, 'each bad exchange cost its connection');
  } finally {
    await upstream.close();
  }
});
