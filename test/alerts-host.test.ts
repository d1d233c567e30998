import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmdirSync, statfsSync } from 'node:fs';
import { unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { sqliteApp } from './helpers/backup-app.js';
import { hitHttps } from './helpers/http.js';
import { assertOk, NODE, sleep, TestHome, waitFor } from './helpers/home.js';

/**
 * The host-wide alert rules through a real berthd into a webhook receiver: a certificate nginx serves
 * (made here by openssl) that expires within 14 days, then renewed; backups to a `rest:` repository
 * (rclone serve restic) that fail, then one that stops answering so the last good backup grows older
 * than its schedule allows; BERTH_HOME on a small tmpfs of its own, filled over 90 %, then emptied.
 * One alert per incident and one "resolved". Also: /metrics' certificate expiry is the served one's.
 * A minute of the backup schedules lasts 200 ms here (BERTH_CRON_MINUTE_MS): an hour, 12 s.
 */
const home = new TestHome('26300-26379');
const HTTPS_PORT = 26390;
const INTERNAL_PORT = 26391;
const HOOK_PORT = 26392;
const REST_PORT = 26393;
const HUNG_REST_PORT = 26394;
const disk = mkdtempSync('/tmp/berth-disk-'); // a tmpfs is mounted here; BERTH_HOME is on it
const certDir = path.join(home.root, 'live');
Object.assign(home.env, {
  BERTH_HOME: path.join(disk, 'home'),
  BERTH_PROXY: 'nginx',
  BERTH_INTERNAL_PORT: String(INTERNAL_PORT),
  BERTH_HTTPS_PORT: String(HTTPS_PORT),
  BERTH_CERT_DIR: certDir,
  BERTH_CRON_MINUTE_MS: '200',
});
const { manifest } = sqliteApp(home);
const SERVER = `require('http').createServer((q, s) => s.end('shop')).listen(process.env.PORT, '127.0.0.1')`;

interface Alert {
  status: string;
  rule: string;
  subject: string;
  message: string;
}
const alerts: Alert[] = [];
let hook: Server;
const rclone: Record<number, ChildProcess> = {};

/** The webhook target's alerts about one rule and subject, in order. */
const about = (rule: string, subject: string) => alerts.filter((a) => a.rule === rule && a.subject === subject);
const statuses = (rule: string, subject: string) => about(rule, subject).map((a) => a.status);

/** A self-signed certificate for `host` in certbot's layout, valid `days`; returns its PEM. */
function certificate(host: string, days: number): string {
  const dir = path.join(certDir, host);
  const fresh = path.join(certDir, `.${host}.new`);
  mkdirSync(dir, { recursive: true });
  mkdirSync(fresh, { recursive: true });
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', String(days), '-subj', `/CN=${host}`],
      ...['-addext', `subjectAltName=DNS:${host}`],
      ...['-keyout', path.join(fresh, 'privkey.pem'), '-out', path.join(fresh, 'fullchain.pem')],
    ],
    { stdio: 'ignore' },
  );
  // As certbot renews: the new files replace the old ones whole.
  for (const f of ['privkey.pem', 'fullchain.pem']) renameSync(path.join(fresh, f), path.join(dir, f));
  rmdirSync(fresh);
  return execFileSync('openssl', ['x509', '-in', path.join(dir, 'fullchain.pem')], { encoding: 'utf8' });
}

function startRclone(port: number): void {
  const repo = path.join(home.root, `repo-${port}`);
  mkdirSync(repo, { recursive: true });
  rclone[port] = spawn('rclone', ['serve', 'restic', '--addr', `127.0.0.1:${port}`, repo], {
    stdio: 'ignore',
    env: { ...process.env, BERTH_TEST_HOME: home.home, RCLONE_CONFIG: path.join(home.root, 'rclone.conf') },
  });
}
const serving = (port: number) =>
  waitFor(
    `rclone on ${port}`,
    async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined)) !== undefined,
  );

/** GET /metrics over berthd's unix socket (root on the host). */
function metrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path.join(home.home, 'berthd.sock'), path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

let shopCa = '';
before(async () => {
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=0700', 'tmpfs', disk], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, `mount: ${mounted.stderr}`);
  shopCa = certificate('shop.test', 5);
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => (alerts.push(...(JSON.parse(body) as { alerts: Alert[] }).alerts), res.end('ok')));
  });
  await new Promise<void>((r) => hook.listen(HOOK_PORT, '127.0.0.1', r));
  mkdirSync(home.home, { recursive: true });
  writeFileSync(
    path.join(home.home, 'config.yaml'),
    `outbound_allow: ["127.0.0.1"]
alerts:
  targets: [{ webhook: "http://127.0.0.1:${HOOK_PORT}/hook" }]
  rules: { crashloop: false, doctor_error: false }
  resolve_after: 1s
  interval: 300ms
  doctor_interval: 1s
`,
  );
  assertOk(await home.cli('daemon', 'start'));
});
after(async () => {
  for (const child of Object.values(rclone)) {
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  }
  hook.close();
  await home.cleanup();
  const umount = spawnSync('umount', [disk], { encoding: 'utf8' });
  if (umount.status !== 0) spawnSync('umount', ['-l', disk]); // still busy: detached now, gone when released
  rmdirSync(disk);
});

test('/metrics: the expiry of the certificate nginx serves for a host, labelled by that host', async () => {
  const dir = home.app(
    'shop',
    `app: shop\nservices:\n  web:\n    run: ["${NODE}", "-e", "${SERVER}"]\n    routes: [shop.test]\n`,
  );
  assertOk(await home.cli('deploy', dir));
  await waitFor('shop.test over HTTPS', async () => {
    const r = await hitHttps(HTTPS_PORT, 'shop.test', '/', shopCa).catch(() => undefined);
    return r?.text() === 'shop';
  });
  const served = await new Promise<X509Certificate>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: HTTPS_PORT, servername: 'shop.test', ca: shopCa }, () => {
      resolve(s.getPeerX509Certificate() as X509Certificate);
      s.end();
    });
    s.on('error', reject);
  });
  assert.equal(served.fingerprint256, new X509Certificate(shopCa).fingerprint256, 'nginx serves the file made here');
  const notAfter = execFileSync('openssl', ['x509', '-noout', '-enddate'], { input: shopCa, encoding: 'utf8' });
  const expiry = Date.parse(notAfter.trim().replace(/^notAfter=/, '')) / 1000;
  assert.equal(Date.parse(served.validTo) / 1000, expiry);
  const lines = (await metrics())
    .split('\n')
    .filter((l) => l.startsWith('berth_tls_certificate_expiry_timestamp_seconds'));
  assert.deepEqual(lines, [`berth_tls_certificate_expiry_timestamp_seconds{host="shop.test"} ${expiry}`]);
});

test('certificate: expiring within 14 days, one alert; renewed, one "resolved"', async () => {
  const firing = await waitFor('the certificate alert', () => about('certificate', 'shop.test')[0]);
  assert.equal(firing.status, 'firing');
  assert.match(
    firing.message,
    /^the certificate for shop\.test \(.*\/live\/shop\.test\/fullchain\.pem\) expires in [45] day\(s\), on /,
  );
  await sleep(1500); // more looks (every 300 ms, the doctor's every second): still the one alert
  assert.deepEqual(statuses('certificate', 'shop.test'), ['firing']);
  const renewed = certificate('shop.test', 90);
  await waitFor('resolved', () => statuses('certificate', 'shop.test').length > 1);
  await sleep(1500);
  assert.deepEqual(statuses('certificate', 'shop.test'), ['firing', 'resolved']);
  const expiry = Date.parse(new X509Certificate(renewed).validTo) / 1000;
  assert.match(
    await metrics(),
    new RegExp(`^berth_tls_certificate_expiry_timestamp_seconds\\{host="shop\\.test"\\} ${expiry}$`, 'm'),
  );
});

test('backup failed: one alert naming the failure; a good backup again, one "resolved"', async () => {
  startRclone(REST_PORT);
  await serving(REST_PORT);
  // A schedule that does not come during the test: the backups here are the ones run by hand.
  const spec = `{ to: "rest:http://127.0.0.1:${REST_PORT}/", schedule: "0 0 1 1 *" }`;
  assertOk(await home.run(['secrets', 'set', 'kept', 'RESTIC_PASSWORD'], { input: 'a-long-repository-password\n' }));
  assertOk(await home.cli('deploy', home.app('kept', manifest('kept', spec))));
  const run = async () => JSON.parse((await home.cli('backup', 'run', 'kept', '--json')).stdout) as { status: string };
  assert.equal((await run()).status, 'verified');
  rclone[REST_PORT]?.kill('SIGTERM');
  await new Promise((r) => rclone[REST_PORT]?.once('exit', r));
  assert.equal((await run()).status, 'failed');
  const firing = await waitFor('the backup alert', () => about('backup', 'kept/production')[0]);
  assert.equal(firing.status, 'firing');
  assert.match(
    firing.message,
    /^the last backup of kept\/production failed: .+; the last good backup is \d+ minutes? old$/,
  );
  startRclone(REST_PORT);
  await serving(REST_PORT);
  assert.equal((await run()).status, 'verified');
  await waitFor('resolved', () => statuses('backup', 'kept/production').length > 1);
  await sleep(1500);
  assert.deepEqual(statuses('backup', 'kept/production'), ['firing', 'resolved']);
  assertOk(await home.cli('rm', 'kept'));
});

test('backup older than its schedule allows (the repository stopped answering): one alert, one "resolved"', async () => {
  startRclone(HUNG_REST_PORT);
  await serving(HUNG_REST_PORT);
  const spec = `{ to: "rest:http://127.0.0.1:${HUNG_REST_PORT}/", schedule: "0 * * * *" }`; // hourly: every 12 s here
  assertOk(await home.run(['secrets', 'set', 'hourly', 'RESTIC_PASSWORD'], { input: 'a-long-repository-password\n' }));
  assertOk(await home.cli('deploy', home.app('hourly', manifest('hourly', spec))));
  const verified = async () =>
    (await home.json<Array<{ kind: string }>>('events', 'hourly')).filter((e) => e.kind === 'backup.verified').length;
  await waitFor('a scheduled backup', async () => (await verified()) >= 1, 120_000, 500);
  // The repository's server stops (SIGSTOP): the kernel still accepts connections, nothing answers, the
  // next scheduled backup waits. Two hours (of the schedule) and one of grace later, the last good one is too old.
  rclone[HUNG_REST_PORT]?.kill('SIGSTOP');
  const firing = await waitFor('the stale-backup alert', () => about('backup', 'hourly/production')[0], 120_000, 200);
  assert.equal(firing.status, 'firing');
  assert.match(
    firing.message,
    /^last good backup of hourly\/production is \d+ hours old \(schedule "0 \* \* \* \*"\)$/,
  );
  const good = await verified();
  rclone[HUNG_REST_PORT]?.kill('SIGCONT'); // the waiting backup goes on
  await waitFor('a good backup again', async () => (await verified()) > good, 120_000, 500);
  await waitFor('resolved', () => statuses('backup', 'hourly/production').length > 1, 60_000);
  await sleep(1500);
  assert.deepEqual(statuses('backup', 'hourly/production'), ['firing', 'resolved']);
  assertOk(await home.cli('rm', 'hourly'));
});

test('disk: BERTH_HOME\'s filesystem filled over 90 %, one alert; the file removed, one "resolved"', async () => {
  assert.deepEqual(statuses('disk', home.home), [], 'not full yet');
  const s = statfsSync(disk);
  const usable = (s.blocks - s.bfree + s.bavail) * s.bsize;
  const used = (s.blocks - s.bfree) * s.bsize;
  const fill = path.join(disk, 'fill');
  const fd = openSync(fill, 'w');
  const chunk = Buffer.alloc(1024 * 1024, 1);
  for (let left = 0.95 * usable - used; left > 0; left -= chunk.length) writeSync(fd, chunk);
  closeSync(fd);
  const firing = await waitFor('the disk alert', () => about('disk', home.home)[0]);
  assert.equal(firing.status, 'firing');
  assert.match(
    firing.message,
    new RegExp(
      `^the disk of BERTH_HOME \\(${home.home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) is 9\\d % full, 0\\.0 GiB free \\(alert at 90 %\\)$`,
    ),
  );
  await sleep(1500);
  assert.deepEqual(statuses('disk', home.home), ['firing']);
  unlinkSync(fill);
  await waitFor('resolved', () => statuses('disk', home.home).length > 1);
  await sleep(1500);
  assert.deepEqual(statuses('disk', home.home), ['firing', 'resolved']);
});
