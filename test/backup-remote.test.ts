import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Finding } from '../src/doctor/finding.js';
import { sqliteApp } from './helpers/backup-app.js';
import { assertOk, TestHome, waitFor } from './helpers/home.js';

/**
 * Backups to a `rest:` repository served by `rclone serve restic` on a loopback port; what a
 * failing target does (doctor, notify:); scheduled backups and retention. A minute lasts a
 * second here (BERTH_CRON_MINUTE_MS), so a schedule fires without waiting for real minutes.
 */
const home = new TestHome('28700-28729');
// Not home.httpPort: test/backup's home derives the same one from the hundreds.
Object.assign(home.env, { BERTH_CRON_MINUTE_MS: '1000', BERTH_HTTP_PORT: '29696' });
const REST_PORT = 29690;
const RECEIVER = 29691;
const { manifest, rows, backupRun, restic } = sqliteApp(home);
const received: Array<{ app: string; kind: string; status: string; error?: string }> = [];
let receiver: Server;
let rest: ChildProcess | undefined;

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as (typeof received)[number]);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(RECEIVER, '127.0.0.1', r));
  mkdirSync(home.home, { recursive: true });
  writeFileSync(path.join(home.home, 'config.yaml'), 'outbound_allow: ["127.0.0.1"]\n');
  assertOk(await home.cli('daemon', 'start'));
});
after(async () => {
  rest?.kill();
  receiver.close();
  await home.cleanup();
});

test('a rest: repository (rclone serve restic); when it is down: the backup fails, doctor says so, notify: hears it', async () => {
  const repo = path.join(home.root, 'rest-repo');
  mkdirSync(repo);
  rest = spawn('rclone', ['serve', 'restic', '--addr', `127.0.0.1:${REST_PORT}`, repo], {
    stdio: 'ignore',
    env: { ...process.env, BERTH_TEST_HOME: home.home, RCLONE_CONFIG: path.join(home.root, 'rclone.conf') },
  });
  await waitFor(
    'rclone serving',
    async () => (await fetch(`http://127.0.0.1:${REST_PORT}/`).catch(() => undefined)) !== undefined,
    15_000,
    100,
  );
  const to = `{ to: "rest:http://127.0.0.1:${REST_PORT}/" }`;
  assertOk(await home.cli('deploy', home.app('far', manifest('far', to, RECEIVER))));
  assertOk(await home.run(['secrets', 'set', 'far', 'RESTIC_PASSWORD'], { input: 'a-long-repository-password\n' }));
  assert.equal(await rows('far', 'add?n=3'), 3);
  const ok = await backupRun('far');
  assert.equal(ok.code, 0, JSON.stringify(ok.r));
  assert.equal(ok.r.status, 'verified');
  assert.equal(readdirSync(path.join(repo, 'snapshots')).length, 1, 'the snapshot is in the rest: repository');
  assert.ok(!JSON.stringify(ok.r).includes('a-long-repository-password'));

  rest.kill();
  await new Promise((r) => rest?.once('exit', r));
  const failed = await backupRun('far');
  assert.equal(failed.code, 1);
  assert.equal(failed.r.status, 'failed');
  const human = await home.cli('backup', 'run', 'far');
  assert.equal(human.code, 1);
  assert.match(human.stdout, /backup of far\/production FAILED/);
  assert.doesNotMatch(human.stdout, /verified/);
  const doctor = await home.cli('doctor', '--json');
  assert.equal(doctor.code, 2);
  const findings = (JSON.parse(doctor.stdout) as { findings: Finding[] }).findings;
  const f = findings.find((x) => x.code === 'backup_failed' && x.app === 'far');
  assert.ok(f, JSON.stringify(findings));
  assert.match(f.message, /the last backup of far\/production failed: .*; the last good backup is \d+ minutes? old/);
  const note = await waitFor(
    'the notification',
    () => received.find((n) => n.app === 'far' && n.kind === 'backup'),
    10_000,
    50,
  );
  assert.equal(note.status, 'failed');
  assert.match(note.error ?? '', /backup failed/);
  const events = await home.json<Array<{ kind: string }>>('events', 'far');
  assert.ok(events.some((e) => e.kind === 'backup.failed'));
  assertOk(await home.cli('rm', 'far'));
});

test('a scheduled backup fires, survives a berthd restart; retention (keep daily 1) leaves one snapshot', async () => {
  const spec = '{ schedule: "*/4 * * * *", keep: { daily: 1, weekly: 0, monthly: 0 } }';
  assertOk(await home.cli('deploy', home.app('timed', manifest('timed', spec))));
  await rows('timed', 'add?n=2');
  const verified = async () =>
    (await home.json<Array<{ kind: string }>>('events', 'timed')).filter((e) => e.kind === 'backup.verified').length;
  await waitFor('a scheduled backup', async () => (await verified()) >= 1, 90_000, 500);
  assertOk(await home.cli('daemon', 'stop'));
  assertOk(await home.cli('daemon', 'start'));
  await waitFor('a scheduled backup after the restart', async () => (await verified()) >= 2, 90_000, 500);
  // A schedule that does not come soon: the backup running now is the last; its retention leaves one a day.
  const rare = '{ schedule: "0 0 1 1 *", keep: { daily: 1, weekly: 0, monthly: 0 } }';
  assertOk(await home.cli('deploy', home.app('timed', manifest('timed', rare))));
  const count = () => (JSON.parse(restic('timed', ['snapshots', '--json', '--no-lock'])) as unknown[]).length;
  await waitFor('forget --prune to keep one a day', () => count() === 1, 30_000, 500);
  assertOk(await home.cli('rm', 'timed'));
});
