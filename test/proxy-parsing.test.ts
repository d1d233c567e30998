/**
 * The builtin proxy's per-request text work on its own, fast paths and the cases they hand on: finding a head,
 * reading header lines, the Host and path a route is matched on, the header list a response goes on with.
 * test/proxy-server and test/proxy-upstream drive the same code through the real proxy process.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostOf, normalizePath } from '../src/proxy/builtin/data-plane.js';
import { responseHeaders } from '../src/proxy/builtin/exchange.js';
import { headText, parseRequestHead, scanHeaderLine, scanned } from '../src/proxy/builtin/request-parser.js';
import { ResponseParser, type ResponseHead } from '../src/proxy/builtin/response-parser.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');

test('a head is found in a short read as text and in a long one as bytes, from any offset, bytes unchanged', () => {
  assert.equal(headText(bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), 'GET / HTTP/1.1\r\nHost: a');
  assert.equal(headText(bytes('GET / HTTP/1.1\r\nHost: a\r\n')), undefined, 'no blank line yet');
  assert.equal(headText(bytes('xxGET / HTTP/1.1\r\n\r\nbody'), 2), 'GET / HTTP/1.1');
  const long = `GET / HTTP/1.1\r\nX-Long: ${'y'.repeat(3000)}\r\n\r\n${'z'.repeat(2000)}`;
  assert.equal(headText(bytes(long)), long.slice(0, long.indexOf('\r\n\r\n')));
  assert.equal(headText(bytes(long.slice(0, 2000))), undefined);
  assert.equal(headText(bytes('HTTP/1.1 200 OK\r\nX: \xe9\xff\r\n\r\n')), 'HTTP/1.1 200 OK\r\nX: \xe9\xff', 'latin1');
});

test('a header line is a token, a colon and field characters; anything else is refused', () => {
  const at = (line: string) =>
    scanHeaderLine(`GET\r\n${line}\r\nNext: 1`, 5) ? [scanned.colon - 5, scanned.end - 5] : false;
  assert.deepEqual(at('Host: a.test'), [4, 12]);
  assert.deepEqual(at('X-Empty:'), [7, 8]);
  assert.deepEqual(at('X-Obs: caf\xe9\t '), [5, 13], 'tabs and obs-text are field characters');
  for (const bad of [
    ' folded: x',
    'No colon',
    ': no name',
    'Bad Name: x',
    'X: a\x00b',
    'X: a\x7fb',
    'X: a\rb',
    'X: a\nb',
  ])
    assert.equal(at(bad), false, JSON.stringify(bad));
  assert.deepEqual(scanHeaderLine('X: last', 0) && [scanned.colon, scanned.end], [1, 7], 'the last line ends the text');
  assert.equal(scanHeaderLine('X: bare CR at the end\r', 0), false);
});

test('request heads: the common case parsed, the rest left to node:http', () => {
  const req = parseRequestHead('GET /p?q=1 HTTP/1.1\r\nHost:  Bench.Test \r\nX-A: 1\r\nContent-Length: 3');
  assert.deepEqual(req, {
    method: 'GET',
    target: '/p?q=1',
    rawHeaders: ['Host', 'Bench.Test', 'X-A', '1', 'Content-Length', '3'],
    host: 'Bench.Test',
    length: 3,
    close: false,
  });
  assert.equal(parseRequestHead('GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close')?.close, true);
  for (const head of [
    'GET / HTTP/1.1\r\nHost: a\r\n folded',
    'GET / HTTP/1.1\r\nHost: a\r\nX: \x01',
    'GET / HTTP/1.1\r\nHost: a\r\nHost: b',
    'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked',
    'GET / HTTP/1.1\r\nX-Only: 1',
    'GET / HTTP/1.0\r\nHost: a',
  ])
    assert.equal(parseRequestHead(head), undefined, JSON.stringify(head));
});

test('the Host and path a route is matched on: lowercased, without port or blanks, dot segments resolved', () => {
  assert.equal(hostOf('bench.test'), 'bench.test');
  assert.equal(hostOf('bench.test:8080'), 'bench.test');
  assert.equal(hostOf('Bench.TEST:8080'), 'bench.test');
  assert.equal(hostOf(' a.test\t'), 'a.test');
  assert.equal(hostOf('[::1]:80'), '[::1]');
  assert.equal(hostOf(undefined), '');
  assert.equal(normalizePath('/a/b'), '/a/b');
  assert.equal(normalizePath('/a/../b'), '/b');
  assert.equal(normalizePath('/%2e%2e/x'), '/x');
  assert.equal(normalizePath('/a/%2E/b/'), '/a/b/');
  assert.equal(normalizePath('/file.txt'), '/file.txt');
  assert.equal(normalizePath('/100%'), '/100%');
});

test('a response goes on without hop-by-hop headers, those its Connection names, and with one Content-Length', () => {
  const headOf = (raw: string): ResponseHead => {
    let head: ResponseHead | undefined;
    new ResponseParser({ head: (h) => (head = h), body: () => undefined, end: () => undefined }, false).push(
      bytes(raw),
    );
    return head!;
  };
  const usual = headOf(
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: x\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok',
  );
  assert.deepEqual(responseHeaders(usual), ['Content-Type', 'text/plain', 'Date', 'x', 'content-length', '2']);
  const named = headOf(
    'HTTP/1.1 200 OK\r\nX-Private: 1\r\nConnection: Keep-Alive, X-Private\r\nconnection: x-other\r\nX-Other: 2\r\nTE: t\r\nTrailer: y\r\nVary: a\r\nContent-Length: 0\r\n\r\n',
  );
  assert.deepEqual(responseHeaders(named), ['Vary', 'a', 'content-length', '0']);
  assert.equal(named.headers.length, 16, 'the head keeps every header as received');
  const chunked = headOf('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\nX-A: 1\r\n\r\n');
  assert.deepEqual(responseHeaders(chunked), ['X-A', '1']);
});
