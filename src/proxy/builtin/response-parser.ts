import { HOP_BY_HOP, lengthTable } from './request-head.js';
import { headText, isToken, scanHeaderLine, scanned, valueAt } from './request-parser.js';

/**
 * An incremental parser for one HTTP/1.x response from an upstream (RFC 9112), for the
 * builtin proxy's upstream leg. It is strict where leniency lets one response bleed into
 * the next on a pooled connection: conflicting Content-Length values, obsolete line
 * folding, control characters, malformed chunk sizes are errors (the proxy answers 502
 * and drops the connection) rather than guesses.
 *
 * Body framing, in RFC 9112 section 6.3's order: no body after HEAD and for 1xx, 204 and
 * 304; Transfer-Encoding ending in chunked; any other Transfer-Encoding reads until the
 * connection closes; Content-Length; otherwise until close. 1xx interim responses other
 * than 101 are skipped.
 */

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  /** Flat [name, value, name, value, ...] as received, hop-by-hop headers included. */
  readonly headers: string[];
  /** The same without hop-by-hop headers and Content-Length: what goes on, but for the names `connection` lists. */
  readonly kept: string[];
  /** The Connection header's values joined with commas, or undefined. */
  readonly connection: string | undefined;
  /** How the body is delimited. */
  readonly framing: 'none' | 'length' | 'chunked' | 'close';
  /** Content-Length as received (one value; also after HEAD and on 304), or undefined: absent, or overridden by Transfer-Encoding. */
  readonly length: number | undefined;
  /** The connection may carry another request after this response. */
  readonly keepAlive: boolean;
}

export interface ResponseSink {
  head(head: ResponseHead): void;
  /** A piece of the body: valid during the call only (a view of the bytes pushed). */
  body(chunk: Buffer): void;
  /** The whole response has arrived; `rest` holds bytes that followed it (there should be none). */
  end(rest: number): void;
}

export class ResponseError extends Error {}

/** What is wrong with the header line at `start` that scanHeaderLine refused. */
function lineError(text: string, start: number): ResponseError {
  let eol = text.indexOf('\r\n', start);
  if (eol < 0) eol = text.length;
  const line = text.slice(start, eol);
  if (line.startsWith(' ') || line.startsWith('\t'))
    return new ResponseError('obsolete line folding in a response header');
  const colon = line.indexOf(':');
  if (colon <= 0) return new ResponseError(`malformed response header line ${JSON.stringify(line.slice(0, 60))}`);
  const name = line.slice(0, colon);
  if (!isToken(name, 0, name.length))
    return new ResponseError(`malformed response header name ${JSON.stringify(name.slice(0, 60))}`);
  return new ResponseError(`control character in response header ${name}`);
}

const MAX_HEAD = 64 * 1024;
const MAX_CHUNK_LINE = 4096;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
/** The header names #head looks at or leaves out of `kept`, by length: others are not lowercased. */
const LOOKED_AT = lengthTable([...HOP_BY_HOP, 'content-length']);
/** A needle as bytes: Buffer#indexOf with a string encodes it on every call. */
const CRLF = Buffer.from('\r\n', 'latin1');

type State = 'head' | 'body-length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'body-close' | 'done';

export class ResponseParser {
  #state: State = 'head';
  #pending: Buffer | undefined;
  #remaining = 0;
  #keepAlive = false;
  /** Bytes of response seen so far: 0 means the upstream has sent nothing yet. */
  received = 0;

  constructor(
    private readonly sink: ResponseSink,
    private readonly headRequest: boolean,
  ) {}

  get done(): boolean {
    return this.#state === 'done';
  }

  /** True while the body runs until the connection closes: the close is its end. */
  get closeDelimited(): boolean {
    return this.#state === 'body-close';
  }

  /**
   * Feeds bytes from the upstream; `chunk` may be reused once this returns (the parser copies
   * the part it keeps, and a sink must too). Throws ResponseError on a malformed response.
   */
  push(chunk: Buffer): void {
    this.received += chunk.length;
    const buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    let at = 0;
    while (at < buf.length && this.#state !== 'done') {
      switch (this.#state) {
        case 'head': {
          const text = headText(buf, at);
          if (text === undefined) {
            if (buf.length - at > MAX_HEAD) throw new ResponseError(`response head larger than ${MAX_HEAD} bytes`);
            this.#pending = Buffer.from(buf.subarray(at));
            return;
          }
          if (text.length > MAX_HEAD) throw new ResponseError(`response head larger than ${MAX_HEAD} bytes`);
          at += text.length + 4;
          this.#head(text);
          break;
        }
        case 'body-length': {
          const n = Math.min(this.#remaining, buf.length - at);
          this.sink.body(buf.subarray(at, at + n));
          at += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#finish();
          break;
        }
        case 'body-close':
          this.sink.body(at === 0 ? buf : buf.subarray(at));
          at = buf.length;
          break;
        case 'chunk-size': {
          const eol = buf.indexOf(CRLF, at);
          if (eol < 0) {
            if (buf.length - at > MAX_CHUNK_LINE) throw new ResponseError('chunk size line too long');
            this.#pending = Buffer.from(buf.subarray(at));
            return;
          }
          const line = buf.toString('latin1', at, eol);
          at = eol + 2;
          const m = /^([0-9a-fA-F]{1,12})[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/.exec(line);
          if (!m) throw new ResponseError(`malformed chunk size line ${JSON.stringify(line.slice(0, 40))}`);
          this.#remaining = parseInt(m[1]!, 16);
          this.#state = this.#remaining === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.#remaining, buf.length - at);
          this.sink.body(buf.subarray(at, at + n));
          at += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = 'chunk-crlf';
          break;
        }
        case 'chunk-crlf': {
          if (buf.length - at < 2) {
            this.#pending = Buffer.from(buf.subarray(at));
            return;
          }
          if (buf[at] !== 13 || buf[at + 1] !== 10) throw new ResponseError('chunk data not followed by CRLF');
          at += 2;
          this.#state = 'chunk-size';
          break;
        }
        case 'trailers': {
          // Trailer fields are dropped (the proxy does not forward trailers); the section ends with an empty line.
          const eol = buf.indexOf(CRLF, at);
          if (eol < 0) {
            if (buf.length - at > MAX_HEAD) throw new ResponseError('trailer section too long');
            this.#pending = Buffer.from(buf.subarray(at));
            return;
          }
          const empty = eol === at;
          at = eol + 2;
          if (empty) this.#finish();
          break;
        }
      }
    }
    if (this.#state === 'done') this.sink.end(buf.length - at);
  }

  /** The upstream closed the connection. Ends a close-delimited body; anything else unfinished is an error. */
  close(): void {
    if (this.#state === 'body-close') {
      this.#state = 'done';
      this.sink.end(0);
      return;
    }
    if (this.#state !== 'done')
      throw new ResponseError(
        this.received === 0
          ? 'the upstream closed the connection without answering'
          : 'the upstream closed the connection in the middle of its response',
      );
  }

  #finish(): void {
    this.#state = 'done';
  }

  #head(text: string): void {
    let eol = text.indexOf('\r\n');
    if (eol < 0) eol = text.length;
    const statusLine = text.slice(0, eol);
    const m = STATUS_LINE.exec(statusLine);
    if (!m) throw new ResponseError(`malformed status line ${JSON.stringify(statusLine.slice(0, 60))}`);
    const minor = m[1]!;
    const status = Number(m[2]);
    const headers: string[] = [];
    const kept: string[] = [];
    let connection: string | undefined;
    let length: number | undefined;
    let transferEncoding: string | undefined;
    let close = minor === '0';
    while (eol < text.length) {
      const start = eol + 2;
      if (!scanHeaderLine(text, start)) throw lineError(text, start);
      eol = scanned.end;
      const name = text.slice(start, scanned.colon);
      const value = valueAt(text, scanned.colon + 1, eol);
      const lower = LOOKED_AT[name.length] === 1 ? name.toLowerCase() : '';
      if (lower === 'content-length') {
        // One value (the usual case) needs no list.
        for (const part of value.includes(',') ? value.split(',') : [value]) {
          const v = part.trim();
          if (!/^\d{1,15}$/.test(v))
            throw new ResponseError(`invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
          if (length !== undefined && length !== Number(v))
            throw new ResponseError('conflicting Content-Length values');
          length = Number(v);
        }
      } else if (lower === 'transfer-encoding') {
        transferEncoding = transferEncoding ? `${transferEncoding}, ${value}` : value;
      } else if (lower === 'connection') {
        connection = connection === undefined ? value : `${connection},${value}`;
        const tokens = value.toLowerCase();
        for (const token of tokens.includes(',') ? tokens.split(',') : [tokens]) {
          const t = token.trim();
          if (t === 'close') close = true;
          else if (t === 'keep-alive' && minor === '0') close = false;
        }
      }
      headers.push(name, value);
      if (lower === '' || (lower !== 'content-length' && !HOP_BY_HOP.has(lower))) kept.push(name, value);
    }
    if (status < 200) {
      if (status === 101) throw new ResponseError('101 Switching Protocols to a request that did not ask to upgrade');
      return; // 100, 102, 103: interim; the final response follows on the same connection
    }
    let framing: ResponseHead['framing'];
    if (this.headRequest || status === 204 || status === 304) framing = 'none';
    else if (transferEncoding !== undefined) {
      const codings = transferEncoding
        .toLowerCase()
        .split(',')
        .map((s) => s.trim());
      framing = codings[codings.length - 1] === 'chunked' ? 'chunked' : 'close';
      if (minor === '0' || length !== undefined) close = true; // RFC 9112 6.1: a message with both is suspect; never reuse the connection
      length = undefined;
    } else if (length !== undefined) framing = 'length';
    else framing = 'close';
    if (framing === 'close') close = true;
    this.#keepAlive = !close;
    this.sink.head({
      status,
      reason: m[3] ?? '',
      headers,
      kept,
      connection,
      framing,
      length,
      keepAlive: this.#keepAlive,
    });
    if (framing === 'none' || (framing === 'length' && length === 0)) this.#finish();
    else if (framing === 'length') {
      this.#remaining = length!;
      this.#state = 'body-length';
    } else if (framing === 'chunked') this.#state = 'chunk-size';
    else this.#state = 'body-close';
  }
}
