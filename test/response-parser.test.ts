/**
 * The builtin proxy's response parser on its own: every message fed whole and byte by byte.
 * test/proxy-upstream drives the real proxy process against upstreams that write exact bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseParser, type ResponseHead } from '../src/proxy/builtin/response-parser.js';

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
