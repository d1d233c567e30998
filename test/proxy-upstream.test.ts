/**
 * The builtin proxy's upstream leg: its own HTTP/1.1 client over pooled connections.
 * The response parser on its own (every message fed whole and byte by byte), then the real
 * proxy process against upstreams that write exact bytes on a raw TCP socket.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ResponseParser, type ResponseHead } from '../src/proxy/builtin/response-parser.js';
import { startBackend, type Backend } from './helpers/backends.js';
import { hit } from './helpers/http.js';
import { ProxyProcess } from './helpers/proxy-process.js';

interface Parsed {
  heads: ResponseHead[];
  body: string;
  ended: number | undefined;
  error: string | undefined;
}

function parse(raw: string, opts: { head?: boolean; bytewise?: boolean; close?: boolean } = {}): Parsed {
  const out: Parsed = { heads: [], body: '', ended: undefined, error: undefined };
  const parser = new ResponseParser(
    {
      head: (h) => out.heads.push(h),
      body: (b) => (out.body += b.toString('latin1')),
      end: (rest) => (out.ended = rest),
    },
    opts.head ?? false,
  );
  const bytes = Buffer.from(raw, 'latin1');
  try {
    if (opts.bytewise)
      for (let i = 0; i < bytes.length && out.ended === undefined; i++) parser.push(bytes.subarray(i, i + 1));
    else parser.push(bytes);
    if (opts.close) parser.close();
  } catch (err) {
    out.error = (err as Error).message;
  }
  return out;
}

test('response parser: framing by length, chunked (extensions, trailers), close, and no body', () => {
  for (const bytewise of [false, true]) {
    const length = parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello', {
      bytewise,
    });
    assert.equal(length.body, 'hello');
    assert.equal(length.ended, 0);
    assert.deepEqual(
      length.heads.map((h) => [h.status, h.reason, h.framing, h.keepAlive]),
      [[200, 'OK', 'length', true]],
    );
    assert.deepEqual(length.heads[0]!.headers, ['Content-Length', '5', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);

    const chunked = parse(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n',
      { bytewise },
    );
    assert.equal(chunked.body, 'hello0123456789');
    assert.equal(chunked.ended, 0);
    assert.equal(chunked.heads[0]!.framing, 'chunked');

    const close = parse('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end', { bytewise, close: true });
    assert.deepEqual(
      [close.body, close.ended, close.heads[0]!.framing, close.heads[0]!.keepAlive],
      ['until the end', 0, 'close', false],
    );

    const head = parse('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', { bytewise, head: true });
    assert.deepEqual(
      [head.body, head.ended, head.heads[0]!.framing, head.heads[0]!.length],
      ['', 0, 'none', 100],
      'after HEAD, Content-Length tells what a GET would get',
    );
    for (const status of [204, 304])
      assert.equal(parse(`HTTP/1.1 ${status} X\r\nContent-Length: 7\r\n\r\n`, { bytewise }).ended, 0);

    const interim = parse(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
      { bytewise },
    );
    assert.deepEqual(
      interim.heads.map((h) => h.status),
      [201],
    );
    assert.equal(interim.body, 'ok');

    const extra = parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA');
    assert.equal(extra.ended, 5, 'bytes after the response are reported, so the connection is not reused');
  }
  assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok').heads[0]!.keepAlive, false);
  assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok').heads[0]!.keepAlive, false);
  assert.equal(
    parse('HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok').body,
    'ok',
    'repeated equal lengths are one length',
  );
  const both = parse('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
  assert.deepEqual(
    [both.body, both.heads[0]!.framing, both.heads[0]!.keepAlive],
    ['ok', 'chunked', false],
    'Transfer-Encoding wins over Content-Length, and the connection is not reused',
  );
});

test('response parser: malformed responses are errors, not guesses', () => {
  const cases: Array<[string, RegExp]> = [
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok', /conflicting Content-Length/],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n', /obsolete line folding/],
    ['HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n', /malformed response header name/],
    ['HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n\r\n', /control character/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /malformed chunk size/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX', /not followed by CRLF/],
    ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', /101/],
    ['HTTP/2 200\r\n\r\n', /malformed status line/],
    ['ICY 200 OK\r\n\r\n', /malformed status line/],
    ['HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(70 * 1024), /larger than/],
  ];
  for (const [raw, expected] of cases) {
    const r = parse(raw);
    assert.match(r.error ?? '(no error)', expected, JSON.stringify(raw.slice(0, 60)));
  }
  assert.match(
    parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', { close: true }).error ?? '',
    /in the middle of its response/,
  );
  assert.match(parse('', { close: true }).error ?? '', /without answering/);
});

/** An upstream that writes exactly what `answer` returns for each request it reads (or closes, for null). */
interface RawUpstream {
  readonly port: number;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

async function rawUpstream(
  answer: (head: string, nth: number, socket: Socket) => string | Buffer | null | undefined,
  opts: { early?: boolean } = {},
): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const u = {
    port: 0,
    connections: 0,
    requests: [] as string[],
    close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  };
  const server: Server = createServer((socket) => {
    u.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let nth = 0;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const length = opts.early ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.subarray(end + 4 + length);
        u.requests.push(head);
        const reply = answer(head, nth++, socket);
        if (reply === null) socket.destroy();
        else if (reply !== undefined) socket.write(reply);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  u.port = (server.address() as { port: number }).port;
  return u;
}

const root = mkdtempSync(path.join(tmpdir(), 'berth-proxy-upstream-'));
const PORT = 18091;
const proxy = new ProxyProcess(path.join(root, 'home'), PORT, { BERTH_UPSTREAM_TIMEOUT_MS: '1000' });
const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
let echo: Backend;

before(async () => {
  echo = await startBackend('echo');
  await proxy.start();
});
after(async () => {
  keepAlive.destroy();
  await proxy.kill();
  await echo.close();
  rmSync(root, { recursive: true, force: true });
});

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

async function via(upstream: RawUpstream, host: string, reqPath = '/', opts: Parameters<typeof hit>[3] = {}) {
  await proxy.routes([{ host, upstreams: [`127.0.0.1:${upstream.port}`] }]);
  return hit(PORT, host, reqPath, { agent: keepAlive, ...opts });
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
