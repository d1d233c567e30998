/**
 * The builtin proxy's own reader of client request heads, for the common case only: an
 * HTTP/1.1 request in origin form with one Host, no body or one Content-Length, clean header
 * lines. It never guesses. Anything else (HTTP/1.0, Transfer-Encoding, Upgrade, Expect,
 * folded lines, control characters, repeated Host or Content-Length, a head over 16 KiB) is
 * `undefined`: the connection is handed to node:http, which answers or refuses it as before.
 * So untrusted input is either parsed strictly here or by llhttp, never half by each.
 */

/** node:http's default limit: beyond it node answers 431. */
export const MAX_REQUEST_HEAD = 16 * 1024;
const MAX_HEADERS = 200;
const REQUEST_LINE = /^([A-Z]{1,20}) (\/[\x21-\x7e]*) HTTP\/1\.1$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible characters, spaces, tabs and obs-text: what node:http accepts in a value, no other controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Lines of FIELD_VALUE's characters joined by CRLF: a head that matches needs no test per value. */
const CLEAN_HEAD = /^[\t\x20-\x7e\x80-\xff]*(?:\r\n[\t\x20-\x7e\x80-\xff]*)*$/;
/** The lengths of the header names the parser looks at (host, expect, upgrade, connection, content-length, transfer-encoding). */
const LOOKED_AT = new Set([4, 6, 7, 10, 14, 17]);
/** The end of a head, as bytes: Buffer#indexOf with a string needle encodes it on every call. */
export const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');

/** Without leading and trailing spaces and tabs (only those: obs-text such as 0xa0 is part of a value). */
function trimBlanks(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s.charCodeAt(start) === 32 || s.charCodeAt(start) === 9)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 32 || s.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

export interface ParsedRequest {
  readonly method: string;
  readonly target: string;
  /** [name, value, ...] as received, values without surrounding blanks. */
  readonly rawHeaders: string[];
  readonly host: string;
  /** Body bytes that follow the head. */
  readonly length: number;
  /** The client asked to close the connection after this exchange. */
  readonly close: boolean;
}

/** Where the head ends (the index after its blank line) in `buf`, -1 when it has not all arrived. */
export function headEnd(buf: Buffer): number {
  const at = buf.indexOf(BLANK_LINE);
  return at < 0 ? -1 : at + 4;
}

/** Parses a whole head (without its final blank line); undefined means "not the common case: hand it over". */
export function parseRequestHead(text: string): ParsedRequest | undefined {
  const clean = CLEAN_HEAD.test(text);
  // Line by line with indexOf rather than split: no array of lines, no runtime call per head.
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const m = REQUEST_LINE.exec(text.slice(0, eol));
  if (!m) return undefined;
  const rawHeaders: string[] = [];
  let host: string | undefined;
  let length: number | undefined;
  let close = false;
  for (let count = 1; eol < text.length; count++) {
    if (count > MAX_HEADERS) return undefined;
    const start = eol + 2;
    eol = text.indexOf('\r\n', start);
    if (eol < 0) eol = text.length;
    const line = text.slice(start, eol);
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined; // also a folded line (it starts with a blank)
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return undefined;
    const value = trimBlanks(line.slice(colon + 1));
    if (!clean && !FIELD_VALUE.test(value)) return undefined;
    switch (LOOKED_AT.has(name.length) ? name.toLowerCase() : '') {
      case 'host':
        if (host !== undefined) return undefined;
        host = value;
        break;
      case 'content-length':
        if (length !== undefined || !/^\d{1,15}$/.test(value)) return undefined;
        length = Number(value);
        break;
      case 'transfer-encoding':
      case 'upgrade':
      case 'expect':
        return undefined;
      case 'connection':
        for (const token of value.toLowerCase().split(',')) {
          const t = token.trim();
          if (t === 'close') close = true;
          else if (t === 'upgrade') return undefined;
        }
        break;
    }
    rawHeaders.push(name, value);
  }
  if (host === undefined) return undefined;
  return { method: m[1]!, target: m[2]!, rawHeaders, host, length: length ?? 0, close };
}
