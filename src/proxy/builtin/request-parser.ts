import { lengthTable } from './request-head.js';

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
/** The header names the parser looks at, by length. */
const LOOKED_AT = lengthTable(['host', 'expect', 'upgrade', 'connection', 'content-length', 'transfer-encoding']);
/** The end of a head, as bytes: Buffer#indexOf with a string needle encodes it on every call. */
const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');
/** Up to this many bytes, a head is looked for in their latin1 text (one decode, then a search in JavaScript). */
const PEEK = 1024;

/** A header name's characters (RFC 9110's tchar), by character code; codes beyond it read undefined. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TCHAR[c.charCodeAt(0)] = 1;

/** True when text[from, to) is a token (RFC 9110: what a header name is made of). */
export function isToken(text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) if (TCHAR[text.charCodeAt(i)] !== 1) return false;
  return true;
}

/** Where the header line scanHeaderLine last read has its colon and its end (its CR, or the end of the text). */
export const scanned = { colon: 0, end: 0 };

/**
 * Reads the header line at `start` of a head's text in one pass: a token, a colon, then field characters (tab,
 * space, visible, obs-text: what node:http accepts in a value) up to CRLF or the end of the text. Fills `scanned`
 * and returns true; false for anything else (no colon, a name that is no token, a folded line, a control character,
 * a bare CR or LF). One pass over the line's characters, in place of a regular expression over the head, two
 * searches and a token test per line.
 */
export function scanHeaderLine(text: string, start: number): boolean {
  const n = text.length;
  let i = start;
  while (i < n && TCHAR[text.charCodeAt(i)] === 1) i++;
  if (i === start || text.charCodeAt(i) !== 58) return false;
  scanned.colon = i;
  for (i++; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 13) break;
    if (c < 32 ? c !== 9 : c === 127 || c > 255) return false;
  }
  if (i < n && text.charCodeAt(i + 1) !== 10) return false;
  scanned.end = i;
  return true;
}

/** text[from, to) without leading and trailing spaces and tabs (only those: obs-text such as 0xa0 is part of a value). */
export function valueAt(text: string, from: number, to: number): string {
  while (from < to && (text.charCodeAt(from) === 32 || text.charCodeAt(from) === 9)) from++;
  while (to > from && (text.charCodeAt(to - 1) === 32 || text.charCodeAt(to - 1) === 9)) to--;
  return text.slice(from, to);
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

/**
 * The text of the head that starts at `from` in `buf`, without its blank line (so it ends at `from` + its length + 4),
 * or undefined when the blank line has not arrived. Latin1: one character per byte, bytes unchanged. A short rest
 * (the usual request, or response with its body) is decoded once and searched as text; a longer one is searched as
 * bytes first, so pipelined requests or a large body are not decoded to find a head.
 */
export function headText(buf: Buffer, from = 0): string | undefined {
  if (buf.length - from <= PEEK) {
    const text = buf.toString('latin1', from);
    const at = text.indexOf('\r\n\r\n');
    return at < 0 ? undefined : text.slice(0, at);
  }
  const at = buf.indexOf(BLANK_LINE, from);
  return at < 0 ? undefined : buf.toString('latin1', from, at);
}

/** Parses a whole head (without its final blank line); undefined means "not the common case: hand it over". */
export function parseRequestHead(text: string): ParsedRequest | undefined {
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
    if (!scanHeaderLine(text, start)) return undefined;
    eol = scanned.end;
    const name = text.slice(start, scanned.colon);
    const value = valueAt(text, scanned.colon + 1, eol);
    switch (LOOKED_AT[name.length] === 1 ? name.toLowerCase() : '') {
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
