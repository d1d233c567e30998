import { randomBytes } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { assertOutboundHost } from '../system/outbound.js';

/** One e-mail to send: plain text, to one address. */
export interface Mail {
  readonly from: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
}

interface Reply {
  readonly code: number;
  readonly lines: readonly string[];
}

/** Reads SMTP replies (multi-line: "250-...", then "250 ...") off a socket, one at a time. */
class Replies {
  #buffer = '';
  #lines: string[] = [];
  #ready: Reply[] = [];
  #waiter: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  #error: Error | undefined;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.#feed(chunk.toString('latin1')));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('the SMTP server closed the connection')));
  }

  next(): Promise<Reply> {
    const r = this.#ready.shift();
    if (r) return Promise.resolve(r);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, end).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(end + 1);
      this.#lines.push(line.slice(4));
      if (line[3] === '-') continue;
      const reply = { code: Number(line.slice(0, 3)), lines: this.#lines };
      this.#lines = [];
      const w = this.#waiter;
      this.#waiter = undefined;
      if (w) w.resolve(reply);
      else this.#ready.push(reply);
    }
  }

  #fail(err: Error): void {
    this.#error ??= err;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(this.#error);
  }
}

/**
 * Sends one e-mail through `smtp` ("smtp://[user:password@]host[:port]", STARTTLS when the server
 * offers it; "smtps://" for TLS from the start). The host is an outbound target like any other:
 * internal addresses only with outbound_allow, and the address checked is the one connected to.
 * A password is sent only over TLS. Rejects with the server's own words when it refuses.
 */
export async function sendMail(smtp: string, mail: Mail, allow: readonly string[], timeoutMs = 10_000): Promise<void> {
  const u = new URL(smtp);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const implicitTls = u.protocol === 'smtps:';
  const port = Number(u.port || (implicitTls ? 465 : 25));
  const address = await checkedAddress(host, allow);
  const tls = implicitTls || u.username ? await import('node:tls') : undefined;
  const servername = isIP(host) ? undefined : host;
  let socket: Socket = implicitTls
    ? (tls as typeof import('node:tls')).connect({ host: address, port, servername })
    : netConnect({ host: address, port });
  const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  try {
    let replies = new Replies(socket);
    const say = async (line: string | undefined, expect: number[], what: string): Promise<Reply> => {
      if (line !== undefined) socket.write(`${line}\r\n`);
      const r = await replies.next();
      if (!expect.includes(r.code)) throw new Error(`${what}: the SMTP server answered ${r.code} ${r.lines.join(' ')}`);
      return r;
    };
    await say(undefined, [220], 'greeting');
    let ehlo = await say('EHLO berth', [250], 'EHLO');
    let secure = implicitTls;
    if (!secure && ehlo.lines.some((l) => /^STARTTLS\b/i.test(l))) {
      await say('STARTTLS', [220], 'STARTTLS');
      const { connect } = tls ?? (await import('node:tls'));
      socket.removeAllListeners('data');
      // The certificate is checked for `host` (a name, or an IP address); SNI goes with a name only (RFC 6066).
      socket = connect({ socket, host, servername });
      replies = new Replies(socket);
      secure = true;
      ehlo = await say('EHLO berth', [250], 'EHLO after STARTTLS');
    }
    if (u.username) {
      if (!secure)
        throw new Error('the SMTP server offers no STARTTLS and a password is sent only over TLS: use smtps://');
      const plain = `\0${decodeURIComponent(u.username)}\0${decodeURIComponent(u.password)}`;
      await say(`AUTH PLAIN ${Buffer.from(plain).toString('base64')}`, [235], 'AUTH');
    }
    await say(`MAIL FROM:<${mail.from}>`, [250], 'MAIL FROM');
    await say(`RCPT TO:<${mail.to}>`, [250, 251], 'RCPT TO');
    await say('DATA', [354], 'DATA');
    await say(`${message(mail)}\r\n.`, [250], 'the message');
    socket.write('QUIT\r\n');
    socket.end();
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

async function checkedAddress(host: string, allow: readonly string[]): Promise<string> {
  if (isIP(host)) {
    await assertOutboundHost(host, allow, 'alert e-mail');
    return host;
  }
  const { lookup } = await import('node:dns/promises');
  const addresses = (await lookup(host, { all: true })).map((a) => a.address);
  await assertOutboundHost(host, allow, 'alert e-mail', async () => addresses);
  return addresses[0] as string;
}

/** The message as it goes after DATA: headers, then the body (base64 unless it is short-lined ASCII), dot-stuffed. */
export function message(mail: Mail): string {
  const ascii = /^[\x20-\x7e\n\t]*$/.test(mail.text) && mail.text.split('\n').every((l) => l.length <= 900);
  const subject = mail.subject.replace(/[\r\n]+/g, ' ');
  const headers = [
    `From: ${mail.from}`,
    `To: ${mail.to}`,
    `Subject: ${/^[\x20-\x7e]*$/.test(subject) ? subject : `=?UTF-8?B?${Buffer.from(subject).toString('base64')}?=`}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${randomBytes(12).toString('hex')}@berth>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Transfer-Encoding: ${ascii ? '7bit' : 'base64'}`,
  ];
  const body = ascii
    ? mail.text.split('\n')
    : (Buffer.from(mail.text)
        .toString('base64')
        .match(/.{1,76}/g) ?? []);
  return [...headers, '', ...body].map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n');
}
