import { connect } from 'node:net';
import type { ProbeResult } from './probes.js';

const TIMEOUT_MS = 2000;

/**
 * Talks to 127.0.0.1:`port`: writes `request`, reads until `done` says the answer is complete.
 * Resolves with what was read, or a reason; never throws.
 */
function exchange(
  port: number,
  request: Buffer,
  done: (got: Buffer) => boolean,
): Promise<{ ok: true; got: Buffer } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: TIMEOUT_MS });
    let got = Buffer.alloc(0);
    const finish = (r: { ok: true; got: Buffer } | { ok: false; reason: string }) => {
      socket.destroy();
      resolve(r);
    };
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (done(got)) finish({ ok: true, got });
    });
    socket.once('timeout', () => finish({ ok: false, reason: `no answer on port ${port} within ${TIMEOUT_MS} ms` }));
    socket.once('end', () => finish(got.length > 0 ? { ok: true, got } : { ok: false, reason: 'connection closed' }));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      finish({ ok: false, reason: `connect to ${port}: ${err.code ?? err.message}` }),
    );
  });
}

/** A PostgreSQL startup message (protocol 3.0) for `user` and `database`. */
function startupMessage(user: string, database: string): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0${database}\0\0`, 'utf8');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, params]);
}

/** The fields of an ErrorResponse ('E') message, by their one-letter code. */
function errorFields(msg: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let at = 5;
  while (at < msg.length && msg[at] !== 0) {
    const code = String.fromCharCode(msg[at] as number);
    const end = msg.indexOf(0, at + 1);
    if (end < 0) break;
    fields.set(code, msg.subarray(at + 1, end).toString('utf8'));
    at = end + 1;
  }
  return fields;
}

/**
 * What pg_isready checks: the server answers a startup message. An authentication request
 * means it accepts connections; "the database system is starting up" or "shutting down"
 * (SQLSTATE 57P03) means it does not yet or no more. It never logs in.
 */
export async function postgresProbe(port: number, user: string, database: string): Promise<ProbeResult> {
  const r = await exchange(port, startupMessage(user, database), (got) => got.length >= 5);
  if (!r.ok) return r;
  const type = String.fromCharCode(r.got[0] as number);
  if (type === 'R') return { ok: true };
  if (type === 'E') {
    const len = r.got.length >= 5 ? r.got.readInt32BE(1) : 0;
    if (r.got.length < 1 + len) {
      const more = await exchange(port, startupMessage(user, database), (got) => got.length >= 1 + got.readInt32BE(1));
      if (!more.ok) return more;
      return errorVerdict(errorFields(more.got));
    }
    return errorVerdict(errorFields(r.got));
  }
  return { ok: false, reason: `port ${port} does not answer as PostgreSQL` };
}

function errorVerdict(fields: Map<string, string>): ProbeResult {
  const code = fields.get('C') ?? '';
  // 57P03 cannot_connect_now: starting up, shutting down, in recovery. Anything else is a server that answers.
  if (code === '57P03') return { ok: false, reason: `PostgreSQL: ${fields.get('M') ?? 'cannot connect now'}` };
  return { ok: true };
}

/** A RESP command. */
function resp(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * Redis is ready when it takes the password (AUTH) and answers PING with PONG; while it loads
 * its data it answers -LOADING. The password is never part of a reason.
 */
export async function redisProbe(port: number, password: string): Promise<ProbeResult> {
  const lines = (got: Buffer) => got.toString('utf8').split('\r\n');
  const r = await exchange(port, Buffer.from(resp('AUTH', password) + resp('PING')), (got) => lines(got).length >= 3);
  if (!r.ok) return r;
  const [auth = '', ping = ''] = lines(r.got);
  if (auth !== '+OK') return { ok: false, reason: `Redis refused AUTH: ${auth.split(' ')[0] ?? ''}` };
  if (ping !== '+PONG') return { ok: false, reason: `Redis answered PING with ${ping.slice(0, 80)}` };
  return { ok: true };
}
