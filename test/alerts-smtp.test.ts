import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { sendMail } from '../src/alerts/smtp-client.js';
import { assertOk, NODE, REPO, sleep, TestHome, waitFor } from './helpers/home.js';

/**
 * Alert e-mail over TLS, against Debian's aiosmtpd (test/fixtures/smtp-tls-server.py) with a certificate
 * from a CA made here by openssl: STARTTLS required with AUTH only over TLS; smtps (TLS from the first
 * byte); a wrong password; a server that offers no TLS (the password is never sent). berthd trusts the
 * test CA the way an operator makes it trust a private one: NODE_EXTRA_CA_CERTS in its environment.
 */
const home = new TestHome('27000-27079');
const STARTTLS_PORT = 27090;
const SMTPS_PORT = 27091;
const PLAIN_PORT = 27092;
const SERVER = path.join(REPO, 'test', 'fixtures', 'smtp-tls-server.py');
const USER = 'alerts';
const PASSWORD = `pw-${randomBytes(9).toString('hex')}`;
const WRONG = `wrong-${randomBytes(9).toString('hex')}`;
const tlsDir = path.join(home.root, 'tls');

interface SmtpEvent {
  event: 'ready' | 'auth-command' | 'auth' | 'message';
  tls?: boolean;
  login?: string | null;
  ok?: boolean;
  sender?: string;
  to?: string[];
  data?: string;
}
const servers: Array<{ mode: string; child: ChildProcess; events: SmtpEvent[] }> = [];
const events = (mode: string) => servers.find((s) => s.mode === mode)?.events ?? [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** A CA, and a certificate for 127.0.0.1 (an IP subjectAltName) signed by it. */
function makeCertificates(): void {
  mkdirSync(tlsDir, { recursive: true });
  const f = (name: string) => path.join(tlsDir, name);
  openssl(
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Berth test CA'],
    ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ...['-keyout', f('ca.key'), '-out', f('ca.pem')],
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
  );
  writeFileSync(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    ...['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial'],
    ...['-days', '2', '-extfile', f('server.ext'), '-out', f('server.pem')],
  );
}

async function startServer(mode: string, port: number): Promise<void> {
  const child = spawn(
    '/usr/bin/python3',
    [
      '-u',
      '-W',
      'ignore', // aiosmtpd's own warnings (login_data; AUTH without STARTTLS, which smtps is)
      SERVER,
      mode,
      String(port),
      path.join(tlsDir, 'server.pem'),
      path.join(tlsDir, 'server.key'),
      USER,
      PASSWORD,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BERTH_TEST_HOME: home.home } },
  );
  const entry = { mode, child, events: [] as SmtpEvent[] };
  servers.push(entry);
  let buffer = '';
  child.stdout.on('data', (c: Buffer) => {
    buffer += c.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) entry.events.push(JSON.parse(l) as SmtpEvent);
  });
  await waitFor(`aiosmtpd (${mode}) ready`, () => entry.events.some((e) => e.event === 'ready'), 60_000);
}

const config = `outbound_allow: ["127.0.0.1"]
alerts:
  targets:
    - { email: ops@example.com, smtp: "smtp://${USER}:${PASSWORD}@127.0.0.1:${STARTTLS_PORT}" }
    - { email: tls@example.com, smtp: "smtps://${USER}:${PASSWORD}@127.0.0.1:${SMTPS_PORT}" }
    - { email: wrong@example.com, smtp: "smtp://${USER}:${WRONG}@127.0.0.1:${STARTTLS_PORT}" }
    - { email: plain@example.com, smtp: "smtp://${USER}:${PASSWORD}@127.0.0.1:${PLAIN_PORT}" }
  rules: { crashloop: false, disk: false, doctor_error: false }
  resolve_after: 1s
  interval: 300ms
`;

before(async () => {
  makeCertificates();
  await startServer('starttls', STARTTLS_PORT);
  await startServer('smtps', SMTPS_PORT);
  await startServer('plain', PLAIN_PORT);
  mkdirSync(home.home, { recursive: true });
  writeFileSync(path.join(home.home, 'config.yaml'), config, { mode: 0o600 });
  home.env.NODE_EXTRA_CA_CERTS = path.join(tlsDir, 'ca.pem'); // what an operator does for a private CA
  assertOk(await home.cli('daemon', 'start'));
});
after(async () => {
  for (const s of servers) s.child.kill('SIGTERM');
  await home.cleanup();
});

const messages = (mode: string, to: string) => events(mode).filter((e) => e.event === 'message' && e.to?.includes(to));

test('STARTTLS with AUTH, and smtps: the alert and its "resolved" arrive over TLS, with the right content', async () => {
  const broken = `app: broken\nservices:\n  web:\n    run: ["${NODE}", "-e", "process.exit(3)"]\n    health: { start_timeout: 2s }\n`;
  const dir = home.app('broken', broken);
  assert.equal((await home.cli('deploy', dir)).code, 1);
  for (const [mode, to] of [
    ['starttls', 'ops@example.com'],
    ['smtps', 'tls@example.com'],
  ] as const) {
    const mail = await waitFor(`the alert by ${mode}`, () => messages(mode, to)[0]);
    assert.equal(mail.tls, true, `${mode}: over TLS`);
    assert.equal(mail.login, USER, `${mode}: authenticated`);
    assert.equal(mail.sender, `berth@${hostname()}`);
    const data = mail.data ?? '';
    assert.match(data, new RegExp(`^To: ${to.replace('.', '\\.')}\r?$`, 'm'));
    assert.match(data, /^Subject: \[berth [^\]]+\] 1 firing: deploy_failed broken\/production\r?$/m);
    assert.match(
      data,
      /^FIRING deploy_failed broken\/production: deploy of broken \(production\), release 1, failed: .*did not become ready/m,
    );
  }
  writeFileSync(
    path.join(dir, 'berth.yaml'),
    `app: broken\nservices:\n  web:\n    run: ["${NODE}", "-e", "require('http').createServer((q, s) => s.end()).listen(process.env.PORT, '127.0.0.1')"]\n`,
  );
  assertOk(await home.cli('deploy', dir));
  for (const [mode, to] of [
    ['starttls', 'ops@example.com'],
    ['smtps', 'tls@example.com'],
  ] as const) {
    const resolved = await waitFor(`"resolved" by ${mode}`, () => messages(mode, to)[1]);
    assert.match(resolved.data ?? '', /^Subject: \[berth [^\]]+\] 1 resolved: deploy_failed broken\/production\r?$/m);
    assert.match(resolved.data ?? '', /^RESOLVED deploy_failed broken\/production: /m);
  }
  await sleep(1000); // a look that would send again has had its time (looks are every 300 ms)
  assert.equal(messages('starttls', 'ops@example.com').length, 2, 'one alert, one "resolved"');
  assert.equal(messages('smtps', 'tls@example.com').length, 2);
  // The client names an IP server by its address for the certificate check, not as SNI (RFC 6066 forbids it).
  assert.doesNotMatch(readFileSync(path.join(home.home, 'berthd.log'), 'utf8'), /DeprecationWarning|ServerName/);
});

test("a wrong password: an alert.failed event naming the target and the server's answer, no password anywhere", async () => {
  const failed = await waitFor('the failed delivery', async () =>
    (await home.json<Array<{ kind: string; message: string }>>('events', 'broken')).find(
      (e) => e.kind === 'alert.failed' && e.message.includes('wrong@example.com'),
    ),
  );
  assert.match(
    failed.message,
    new RegExp(
      `^alert to email to wrong@example\\.com via 127\\.0\\.0\\.1:${STARTTLS_PORT} failed: AUTH: the SMTP server answered 535 `,
    ),
  );
  const refused = events('starttls').filter((e) => e.event === 'auth' && !e.ok);
  assert.ok(refused.length > 0 && refused.every((e) => e.tls === true), JSON.stringify(refused));
  assert.equal(messages('starttls', 'wrong@example.com').length, 0);
  const everything = [
    readFileSync(path.join(home.home, 'berthd.log'), 'utf8'),
    (await home.cli('events', 'broken', '--json')).stdout,
  ].join('\n');
  for (const secret of [PASSWORD, WRONG, Buffer.from(`\0${USER}\0${WRONG}`).toString('base64')])
    assert.ok(!everything.includes(secret), 'a password in the log or the events');
});

test('a server without TLS gets no AUTH and no mail: the delivery fails and says why', async () => {
  const failed = await waitFor('the refused delivery', async () =>
    (await home.json<Array<{ kind: string; message: string }>>('events', 'broken')).find(
      (e) => e.kind === 'alert.failed' && e.message.includes('plain@example.com'),
    ),
  );
  assert.match(
    failed.message,
    new RegExp(`^alert to email to plain@example\\.com via 127\\.0\\.0\\.1:${PLAIN_PORT} failed: .*offers no STARTTLS`),
  );
  assert.deepEqual(
    events('plain').filter((e) => e.event !== 'ready'),
    [],
    'the plain server heard no AUTH and no message (it would have accepted AUTH PLAIN)',
  );
  // Every AUTH any server received came over TLS.
  const auths = servers.flatMap((s) => s.events.filter((e) => e.event === 'auth-command'));
  assert.ok(auths.length >= 3 && auths.every((e) => e.tls === true), JSON.stringify(auths));
});

test('the certificate is checked: without the test CA the client refuses the server before AUTH', async () => {
  const before = events('starttls').filter((e) => e.event === 'auth-command').length;
  const mail = { from: 'berth@test', to: 'ops@example.com', subject: 's', text: 't' };
  await assert.rejects(
    sendMail(`smtp://${USER}:${PASSWORD}@127.0.0.1:${STARTTLS_PORT}`, mail, ['127.0.0.1']),
    /certificate/,
  );
  await assert.rejects(
    sendMail(`smtps://${USER}:${PASSWORD}@127.0.0.1:${SMTPS_PORT}`, mail, ['127.0.0.1']),
    /certificate/,
  );
  assert.equal(events('starttls').filter((e) => e.event === 'auth-command').length, before);
});
