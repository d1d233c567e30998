/**
 * The request head the builtin proxy sends upstream, built from a client's request as either
 * server side parsed it (node:http for the connections it hands over, the proxy's own parser
 * for the rest): the client's header lines in their order and case, without hop-by-hop ones,
 * one Host, and X-Forwarded-For/-Proto/-Host.
 */

/** A client's request as the proxy needs it: the raw header list is [name, value, name, value, ...] as received. */
export interface ClientRequestHead {
  readonly method: string;
  readonly rawHeaders: readonly string[];
  readonly remoteAddress: string | undefined;
}

/** Hop-by-hop headers (RFC 9110 7.6.1): never forwarded in either direction. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
]);
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/**
 * A table of name lengths, indexed by length: `table[name.length] === 1` says a header name may be one of `names`
 * (only those are lowercased to compare). An array lookup per header line, where a Set of numbers costs a hash
 * table probe; a length beyond the table reads undefined.
 */
export function lengthTable(names: Iterable<string>): Uint8Array {
  const table = new Uint8Array(64);
  for (const n of names) table[n.length] = 1;
  return table;
}

/** The lengths of the names requestHead drops or changes. */
const LOOKED_AT = lengthTable([...HOP_BY_HOP, ...FORWARDED, 'host', 'content-length', 'cookie']);

/**
 * Berth's own dashboard session cookie. Browsers send a host's cookies to every port of it,
 * so a browser signed in to the dashboard sends it to apps on the same host name too; the
 * proxy never passes it on.
 */
const SESSION_COOKIE = 'berth_session=';

function withoutSessionCookie(value: string): string {
  return value
    .split(';')
    .filter((pair) => !pair.trim().startsWith(SESSION_COOKIE))
    .map((pair) => pair.trim())
    .join('; ');
}

/**
 * Header names a Connection header lists: hop-by-hop for this message only. Those dropped
 * anyway (hop-by-hop ones) and `close` are left out: undefined when nothing else is listed,
 * as for the usual `keep-alive` or `close`, so callers look at no other header name for it.
 */
export function connectionNamed(value: string | undefined): Set<string> | undefined {
  // The usual values name no header: no lowercasing and splitting for them.
  if (value === undefined || value === 'keep-alive' || value === 'close') return undefined;
  let named: Set<string> | undefined;
  const tokens = value.toLowerCase();
  // One token (the usual `keep-alive` or `close`) needs no list.
  for (const token of tokens.includes(',') ? tokens.split(',') : [tokens]) {
    const name = token.trim();
    if (name !== '' && name !== 'close' && !HOP_BY_HOP.has(name)) (named ??= new Set()).add(name);
  }
  return named;
}

/** The lines requestHead reads, repeated ones joined with ", " as node:http joins them (Host: the first). */
interface Named {
  host?: string;
  connection?: string;
  xff?: string;
  proto?: string;
  fhost?: string;
}

function join(prior: string | undefined, value: string): string {
  return prior === undefined ? value : `${prior}, ${value}`;
}

function named(raw: readonly string[]): Named {
  const out: Named = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    switch (name.length === 4 || name.length >= 10 ? name.toLowerCase() : '') {
      case 'host':
        out.host ??= value;
        break;
      case 'connection':
        out.connection = join(out.connection, value);
        break;
      case 'x-forwarded-for':
        out.xff = join(out.xff, value);
        break;
      case 'x-forwarded-proto':
        out.proto = join(out.proto, value);
        break;
      case 'x-forwarded-host':
        out.fhost = join(out.fhost, value);
        break;
    }
  }
  return out;
}

/**
 * The request head for the upstream: the client's header lines in their order and case,
 * without hop-by-hop ones (also those its Connection header names), one Host (the client's),
 * the body framing the caller gives in `extra`, and X-Forwarded-For/-Proto/-Host. Behind an
 * edge on this host the request comes from loopback and the edge's own X-Forwarded-Proto/-Host
 * are kept (it knows about TLS); anyone else's are replaced.
 */
export function requestHead(req: ClientRequestHead, host: string, path: string, extra: string): string {
  const raw = req.rawHeaders;
  const lines = named(raw);
  const clientHost = lines.host;
  const listed = connectionNamed(lines.connection);
  let head = `${req.method} ${path} HTTP/1.1\r\n`;
  if (clientHost !== undefined) head += `Host: ${clientHost}\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    if (listed === undefined && LOOKED_AT[raw[i]!.length] !== 1) {
      head += `${raw[i]}: ${raw[i + 1]}\r\n`; // a name of no length below: no need to lowercase it
      continue;
    }
    const name = raw[i]!.toLowerCase();
    // Host and Content-Length (the usual ones here) first: a string compare, where a Set hashes the new string.
    if (
      name === 'host' ||
      name === 'content-length' ||
      HOP_BY_HOP.has(name) ||
      FORWARDED.has(name) ||
      listed?.has(name)
    )
      continue;
    let value = raw[i + 1]!;
    if (name === 'cookie' && value.includes(SESSION_COOKIE)) {
      value = withoutSessionCookie(value);
      if (!value) continue;
    }
    head += `${raw[i]}: ${value}\r\n`;
  }
  const client = req.remoteAddress ?? '';
  const fromEdge = client === '127.0.0.1' || client === '::1' || client === '::ffff:127.0.0.1';
  const prior = lines.xff;
  const proto = (fromEdge && lines.proto) || 'http';
  const fhost = (fromEdge && lines.fhost) || (clientHost ?? host);
  return `${head}x-forwarded-for: ${prior ? `${prior}, ${client}` : client}\r\nx-forwarded-proto: ${proto}\r\nx-forwarded-host: ${fhost}\r\n${extra}\r\n`;
}
