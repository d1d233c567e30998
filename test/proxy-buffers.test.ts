/**
 * The builtin proxy's byte handling on its fast path: every upstream connection reads into one
 * shared buffer, and every client connection into another, so whatever outlives a read (a slow
 * client's queued response, a head or chunk size line split across reads, a partial request head,
 * pipelined requests, upload bytes queued for an upstream) must be a copy; and header bytes outside ASCII pass through
 * unchanged in both directions. Real proxy process, raw TCP upstreams and clients, exact bytes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { waitFor } from './helpers/home.js';
import { ProxyProcess } from './helpers/proxy-process.js';

const root = mkdtempSync(path.join(tmpdir(), 'berth-proxy-buffers-'));
const PORT = 31100;
const proxy = new ProxyProcess(path.join(root, 'home'), PORT);
const servers: Server[] = [];

/** A raw upstream: `answer` gets each request head (and the head's raw bytes) and writes on the socket itself. */
async function upstream(answer: (head: string, socket: Socket, raw: Buffer) => void): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const raw = buf.subarray(0, end + 4);
      buf = buf.subarray(end + 4);
      answer(raw.toString('latin1'), socket, raw);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as { port: number }).port;
}

/** Sends raw bytes and resolves with everything received until the proxy closes the connection. */
function exchange(bytes: Buffer | string, opts: { readAfterMs?: number; closeAfterMs?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(PORT, '127.0.0.1', () => {
      socket.write(bytes);
      if (opts.closeAfterMs) setTimeout(() => socket.destroy(), opts.closeAfterMs);
    });
    if (opts.readAfterMs) {
      socket.pause(); // a slow client: the proxy's writes to it queue up meanwhile
      setTimeout(() => socket.resume(), opts.readAfterMs);
    }
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** More than the kernel's socket buffers hold for a client that does not read: the rest waits in the proxy. */
const BIG = Buffer.alloc(16 * 1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7 + (i >> 11)) & 0xff;
/** Large enough to fill the shared read buffer. */
const NOISE = 'z'.repeat(100_000);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The body of a whole response (Content-Length framed). */
function bodyOf(response: Buffer): Buffer {
  return response.subarray(response.indexOf('\r\n\r\n') + 4);
}
/** Keeps other upstream connections reading into the shared buffer until `done` resolves. */
async function churn(done: Promise<unknown>): Promise<number> {
  const state = { stop: false };
  void done.finally(() => (state.stop = true));
  let n = 0;
  while (!state.stop) {
    const r = await exchange('GET /noise HTTP/1.1\r\nHost: noise.test\r\nConnection: close\r\n\r\n');
    assert.equal(bodyOf(r).toString(), NOISE);
    n++;
  }
  return n;
}

before(async () => {
  const big = await upstream((_h, s) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG.length}\r\n\r\n`);
    s.write(BIG);
  });
  const noise = await upstream((_h, s) =>
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${NOISE.length}\r\n\r\n${NOISE}`),
  );
  await proxy.start();
  await proxy.routes([
    { host: 'big.test', upstreams: [`127.0.0.1:${big}`] },
    { host: 'noise.test', upstreams: [`127.0.0.1:${noise}`] },
  ]);
});
after(async () => {
  await proxy.kill();
  for (const s of servers) s.close();
  rmSync(root, { recursive: true, force: true });
});

test('a slow client gets its response intact while other upstream reads reuse the shared buffer (own server side and node:http)', async () => {
  for (const version of ['1.1', '1.0']) {
    // HTTP/1.0 is handed to node:http: its exchange must copy too.
    const slow = exchange(`GET /big HTTP/${version}\r\nHost: big.test\r\nConnection: close\r\n\r\n`, {
      readAfterMs: 600,
    });
    const noise = await churn(slow);
    const body = bodyOf(await slow);
    assert.ok(noise > 0, 'other responses were read meanwhile');
    assert.equal(body.length, BIG.length, `HTTP/${version}`);
    assert.equal(sha(body), sha(BIG), `HTTP/${version}: the body is byte for byte the upstream's`);
  }
});

test('a response head or chunk size line split across reads survives other upstreams read in between', async () => {
  let release!: () => void;
  const other = new Promise<void>((r) => (release = r));
  const split = await upstream((head, s) => {
    const chunked = head.includes('/chunked');
    s.write(
      chunked ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1' : 'HTTP/1.1 200 OK\r\nContent-Type: text/pl',
    );
    void other.then(() =>
      setTimeout(
        () => s.write(chunked ? '0\r\n0123456789abcdef\r\n0\r\n\r\n' : 'ain\r\nContent-Length: 5\r\n\r\nwhole'),
        50,
      ),
    );
  });
  await proxy.routes([
    { host: 'split.test', upstreams: [`127.0.0.1:${split}`] },
    { host: 'noise.test', upstreams: [`127.0.0.1:${(servers[1]!.address() as { port: number }).port}`] },
  ]);
  for (const p of ['/head', '/chunked']) {
    const pending = exchange(`GET ${p} HTTP/1.1\r\nHost: split.test\r\nConnection: close\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 100)); // the first part has been read by now
    await exchange('GET /noise HTTP/1.1\r\nHost: noise.test\r\nConnection: close\r\n\r\n');
    release();
    const text = (await pending).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/, p);
    if (p === '/head') {
      assert.match(text, /\r\ncontent-type: text\/plain\r\n/i);
      assert.equal(text.slice(text.indexOf('\r\n\r\n') + 4), 'whole');
    } else assert.ok(text.endsWith('10\r\n0123456789abcdef\r\n0\r\n\r\n'), JSON.stringify(text.slice(-60)));
  }
});

test('header bytes outside ASCII reach the upstream and the client unchanged, and so do the body bytes of a small response', async () => {
  const body = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)); // every byte value, sent as one small write
  const seen: Buffer[] = [];
  const port = await upstream((_h, s, raw) => {
    seen.push(raw);
    s.write(
      Buffer.concat([
        Buffer.from('HTTP/1.1 200 OK\r\nX-Reply: '),
        Buffer.from('né €', 'utf8'),
        Buffer.from(`\r\nContent-Length: ${body.length}\r\n\r\n`),
        body,
      ]),
    );
  });
  await proxy.routes([{ host: 'bytes.test', upstreams: [`127.0.0.1:${port}`] }]);
  const value = Buffer.from('café ☃', 'utf8');
  const request = Buffer.concat([
    Buffer.from('GET / HTTP/1.1\r\nHost: bytes.test\r\nX-Name: '),
    value,
    Buffer.from('\r\nConnection: close\r\n\r\n'),
  ]);
  const response = await exchange(request);
  await waitFor('the request at the upstream', () => seen.length === 1);
  assert.ok(
    seen[0]!.includes(Buffer.concat([Buffer.from('X-Name: '), value, Buffer.from('\r\n')])),
    'request header bytes kept',
  );
  assert.ok(
    response.includes(Buffer.concat([Buffer.from('X-Reply: '), Buffer.from('né €', 'utf8')])),
    'response header bytes kept',
  );
  assert.equal(bodyOf(response).toString('hex'), body.toString('hex'), 'response body bytes kept');
});

/** An upstream that reads request bodies (Content-Length framed) after `delayMs`, and answers with their length and hash. */
async function bodySink(delayMs: number): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pause();
    setTimeout(() => socket.resume(), delayMs);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.subarray(end + 4, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        const answer = `${head.split(' ')[1]} ${length} ${sha(body)} ${/\r\nx-tag: *(\S*)/i.exec(head)?.[1] ?? ''}`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as { port: number }).port;
}

/** Keeps other client connections reading into the proxy's shared client buffer until `done` resolves. */
async function clientChurn(done: Promise<unknown>): Promise<number> {
  const state = { stop: false };
  void done.finally(() => (state.stop = true));
  let n = 0;
  while (!state.stop) {
    await exchange(`GET /${'x'.repeat(2000)} HTTP/1.1\r\nHost: nowhere.test\r\nX-Fill: ${'y'.repeat(4000)}\r\n\r\n`, {
      closeAfterMs: 5,
    });
    n++;
  }
  return n;
}

test('request bytes that outlive a read survive other client connections read in between: uploads, a partial head, pipelined requests', async () => {
  const slow = await bodySink(400);
  const fresh = await bodySink(400); // a connection of its own: the first pipelined request waits for it
  await proxy.routes([
    { host: 'up.test', upstreams: [`127.0.0.1:${slow}`] },
    { host: 'fresh.test', upstreams: [`127.0.0.1:${fresh}`] },
  ]);
  // An upload to an upstream that is still connecting, then slow to read: the proxy queues body bytes meanwhile.
  const upload = BIG.subarray(0, 4 * 1024 * 1024);
  const sent = exchange(
    Buffer.concat([
      Buffer.from(
        `POST /upload HTTP/1.1\r\nHost: up.test\r\nContent-Length: ${upload.length}\r\nConnection: close\r\n\r\n`,
      ),
      upload,
    ]),
  );
  const churned = await clientChurn(sent);
  assert.ok(churned > 0, 'other clients were read meanwhile');
  assert.equal(bodyOf(await sent).toString(), `/upload ${upload.length} ${sha(upload)} `);

  // Half a head, other clients, the rest; then two pipelined requests, the second waiting while the first is answered.
  const socket = connect(PORT, '127.0.0.1');
  const got: Buffer[] = [];
  socket.on('data', (c: Buffer) => got.push(c));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write('POST /partial HTTP/1.1\r\nHost: fresh.test\r\nX-Tag: first-');
  await clientChurn(new Promise((r) => setTimeout(r, 150)));
  socket.write(
    'half\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /second HTTP/1.1\r\nHost: fresh.test\r\nX-Tag: pipelined\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
  );
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await clientChurn(closed);
  const text = Buffer.concat(got).toString('latin1');
  assert.ok(text.includes(`/partial 5 ${sha(Buffer.from('hello'))} first-half`), text);
  assert.ok(text.includes(`/second 3 ${sha(Buffer.from('abc'))} pipelined`), text);
});
