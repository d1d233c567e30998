/**
 * The builtin proxy's own server side (client-connection.ts): keep-alive and pipelined
 * requests answered in order, bodies framed by Content-Length, and every request it does not
 * read itself handed, with the rest of its connection, to node:http, which serves or refuses
 * it as before. Real proxy process, real sockets, exact bytes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ResponseParser, type ResponseHead } from '../src/proxy/builtin/response-parser.js';
import { waitFor } from './helpers/home.js';
import { ProxyProcess } from './helpers/proxy-process.js';

const root = mkdtempSync(path.join(tmpdir(), 'berth-proxy-server-'));
const PORT = 18099;
const proxy = new ProxyProcess(path.join(root, 'home'), PORT);
let backend: Server;
const seen: string[] = [];

/** Answers "<method> <url> <body length>", or a chunked body for /chunked. */
function startBackend(): Promise<number> {
  backend = createServer((req, res) => {
    seen.push(req.url ?? '');
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      if (req.url?.startsWith('/part/')) {
        // ~3 KB in one write: one read for the proxy, so each exchange is over as soon as its answer is written.
        res.setHeader('content-type', 'text/plain');
        res.end(part(req.url));
        return;
      }
      if (req.url === '/chunked') {
        res.write('one,');
        res.end('two');
        return;
      }
      res.setHeader('content-type', 'text/plain');
      res.end(`${req.method} ${req.url} ${n}`);
    });
  });
  return new Promise((r) => backend.listen(0, '127.0.0.1', () => r((backend.address() as { port: number }).port)));
}

/** A raw client connection that reads whole responses, in order, with the proxy's own response parser. */
class RawClient {
  readonly socket: Socket;
  readonly responses: { head: ResponseHead; body: string }[] = [];
  closed = false;
  #parser = this.#newParser();
  #head: ResponseHead | undefined;
  #body = '';
  #left = -1;

  constructor() {
    this.socket = connect({ host: '127.0.0.1', port: PORT });
    this.socket.on('data', (chunk: Buffer) => this.#push(chunk));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }

  #newParser(): ResponseParser {
    return new ResponseParser(
      {
        head: (h) => (this.#head = h),
        body: (b) => (this.#body += b.toString('latin1')),
        end: (rest) => {
          this.responses.push({ head: this.#head!, body: this.#body });
          this.#body = '';
          this.#left = rest;
        },
      },
      false,
    );
  }

  /** A response ends with `rest` bytes of the chunk after it: they start the next one, on a new parser. */
  #push(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      this.#left = -1;
      this.#parser.push(rest);
      if (this.#left < 0) return;
      this.#parser = this.#newParser();
      rest = rest.subarray(rest.length - this.#left);
    }
  }

  send(text: string): void {
    this.socket.write(text, 'latin1');
  }

  async wait(n: number, timeoutMs?: number): Promise<void> {
    await waitFor(`${n} responses`, () => this.responses.length >= n, timeoutMs);
  }
}

/** The body the backend answers /part/... with: ~3 KB that name the request. */
const part = (url: string) => `${url} `.repeat(Math.ceil(3000 / (url.length + 1))).slice(0, 3000);
const get = (p: string, host = 'app.test') => `GET ${p} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

before(async () => {
  const port = await startBackend();
  const site = path.join(root, 'site');
  mkdirSync(site);
  writeFileSync(path.join(site, 'index.html'), 'static page');
  await proxy.start();
  await proxy.routes([
    { host: 'app.test', upstreams: [`127.0.0.1:${port}`] },
    { host: 'site.test', upstreams: [], static: { root: site, spa: false } },
  ]);
});
after(async () => {
  await proxy.kill();
  await new Promise((r) => backend.close(r));
  rmSync(root, { recursive: true, force: true });
});

test('pipelined requests on one connection: answered in order, bodies framed by Content-Length, read by the proxy itself', async () => {
  const client = new RawClient();
  client.send(
    get('/a') + `POST /b HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello` + get('/c') + get('/chunked'),
  );
  await client.wait(4);
  assert.deepEqual(
    client.responses.map((r) => [r.head.status, r.body]),
    [
      [200, 'GET /a 0'],
      [200, 'POST /b 5'],
      [200, 'GET /c 0'],
      [200, 'one,two'],
    ],
  );
  assert.equal(client.responses[3]!.head.framing, 'chunked', 'a body of unknown length goes out chunked');
  assert.equal((await proxy.health()).handedOver, 0, 'none of these needed node:http');
  // A body that arrives in pieces, after its head.
  client.send(`PUT /d HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\nabc`);
  await new Promise((r) => setTimeout(r, 50));
  client.socket.write('defghij');
  await client.wait(5);
  assert.equal(client.responses[4]!.body, 'PUT /d 10');
  client.socket.destroy();
});

test('a request the proxy does not read itself hands the connection, unread bytes first, to node:http', async () => {
  const before = (await proxy.health()).handedOver;
  const client = new RawClient();
  // Fast path, then a static file (served by node:http), then a proxied request pipelined behind it.
  client.send(get('/first'));
  await client.wait(1);
  client.send(get('/', 'site.test') + get('/after'));
  await client.wait(3);
  assert.deepEqual(
    client.responses.map((r) => [r.head.status, r.body]),
    [
      [200, 'GET /first 0'],
      [200, 'static page'],
      [200, 'GET /after 0'],
    ],
  );
  assert.equal((await proxy.health()).handedOver, before + 1);
  client.socket.destroy();
});

test('unusual or malformed requests are node:http`s to answer: HTTP/1.0 and chunked uploads served, smuggling attempts and huge heads refused', async () => {
  /** The status, or "closed" when the connection was closed without an answer (node:http's clientError). */
  const answer = async (text: string): Promise<number | 'closed'> => {
    const client = new RawClient();
    client.send(text);
    await waitFor('an answer or a close', () => client.responses.length > 0 || client.closed);
    client.socket.destroy();
    return client.responses[0]?.head.status ?? 'closed';
  };
  const before = (await proxy.health()).handedOver;
  assert.equal(await answer('GET /old HTTP/1.0\r\nHost: app.test\r\n\r\n'), 200);
  assert.equal(
    await answer('POST /te HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
    200,
  );
  const refused = [
    'POST /both HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST /two-lengths HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
    'GET /folded HTTP/1.1\r\nHost: app.test\r\nX-A: 1\r\n folded\r\n\r\n',
    `GET /huge HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  ];
  for (const text of refused) assert.notEqual(await answer(text), 200, text.slice(0, 40));
  assert.deepEqual(
    seen.filter((u) => ['/both', '/two-lengths', '/folded', '/huge'].includes(u)),
    [],
    'no refused request reached the upstream',
  );
  assert.equal((await proxy.health()).handedOver, before + 6);
});

test('Connection: close is honoured; a client gone mid-exchange leaves nothing in flight', async () => {
  const client = new RawClient();
  client.send(`GET /bye HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`);
  await client.wait(1);
  assert.ok(client.responses[0]!.head.headers.some((v, i) => i % 2 === 0 && v.toLowerCase() === 'connection'));
  await waitFor('the proxy to close the connection', () => client.closed);

  const gone = new RawClient();
  gone.socket.write(`POST /slow HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\npart`);
  await new Promise((r) => setTimeout(r, 50));
  gone.socket.destroy();
  await waitFor('no request in flight', async () => {
    const inflight = await fetchInflight();
    return Object.keys(inflight).length === 0;
  });
});

async function fetchInflight(): Promise<Record<string, number>> {
  const { ApiClient } = await import('../src/api/client.js');
  return new ApiClient(path.join(proxy.home, 'proxy', 'control.sock')).call('GET', '/v1/inflight');
}

test('a client that pipelines requests and reads no answer holds up the rest, then gets every answer whole and in order', async () => {
  // 8,000 answers of 3 KB: more than a loopback connection's socket buffers hold (a few MB).
  const n = 8000;
  const client = new RawClient();
  client.socket.pause();
  const first = seen.length;
  let text = '';
  for (let i = 0; i < n; i++) text += get(`/part/${i}`);
  client.send(text);
  // The proxy asks the backend for the next request only once the client took the answers before it: it stops.
  let asked = -1;
  for (;;) {
    const now = seen.length;
    if (now === asked) break;
    asked = now;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(asked - first < n, `the proxy stopped asking at ${asked - first} of ${n} while the client read nothing`);
  client.socket.resume();
  await client.wait(n, 180_000);
  const wrong = client.responses.findIndex((r, i) => r.head.status !== 200 || r.body !== part(`/part/${i}`));
  assert.equal(wrong, -1, `answer ${wrong} is not the one asked for, or not whole`);
  assert.equal(seen.length - first, n);
  client.socket.destroy();
});
