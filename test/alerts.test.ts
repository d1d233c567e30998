import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { doctorConditions } from '../src/alerts/conditions.js';
import type { AlertRules } from '../src/config/host-alerts.js';
import { parseHostSettings } from '../src/config/settings-schema.js';
import { assertOk, NODE, sleep, TestHome, waitFor } from './helpers/home.js';

/**
 * config.yaml's `alerts:` against real receivers: an HTTP server (webhook and Slack targets) on
 * 127.0.0.1, Debian's aiosmtpd as the mail server, and an HTTP server on 127.0.0.2 that
 * outbound_allow does not list (refused). One incident, one alert, one "resolved".
 */
const home = new TestHome('28200-28299');
const HTTP_PORT = 29310;
const SMTP_PORT = 29311;
const REFUSED_PORT = 29312;

interface Alert {
  status: string;
  rule: string;
  subject: string;
  message: string;
}
const hooks: Array<{ path: string; body: { alerts?: Alert[]; text?: string; content?: string } }> = [];
const refused: string[] = [];
let mail = '';
let servers: Server[] = [];
let smtpd: ChildProcess;

const config = `outbound_allow: ["127.0.0.1"]
alerts:
  targets:
    - { webhook: "http://127.0.0.1:${HTTP_PORT}/hook" }
    - { slack: "http://127.0.0.1:${HTTP_PORT}/slack" }
    - { email: ops@example.com, smtp: "smtp://127.0.0.1:${SMTP_PORT}" }
    - { webhook: "http://127.0.0.2:${REFUSED_PORT}/hook" }
  rules: { disk: { percent: 1 }, unhealthy: { after: 1s } }
  resolve_after: 2s
  interval: 500ms
  doctor_interval: 1s
`;

/** Up and serving, then down: 1 s the first time (its deploy passes), 300 ms after that. */
const flapping = (stable: boolean) => `app: flap
services:
  web:
    run: ["${NODE}", "-e", "const f = require('path').join(process.env.DATA_DIR, 'ran'), first = !require('fs').existsSync(f); require('fs').writeFileSync(f, ''); require('http').createServer((q, s) => s.end('up')).listen(process.env.PORT, '127.0.0.1');${stable ? '' : ' setTimeout(() => process.exit(1), first ? 1000 : 300)'}"]
`;

function listen(host: string, port: number, onBody: (path: string, body: string) => void): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => (onBody(req.url ?? '', body), res.end('ok')));
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

/** The webhook target's alerts about one rule and subject, in order. */
const about = (rule: string, subject: string) =>
  hooks
    .filter((h) => h.path === '/hook')
    .flatMap((h) => h.body.alerts ?? [])
    .filter((a) => a.rule === rule && a.subject === subject)
    .map((a) => a.status);

const crashloops = async () =>
  (await home.json<Array<{ kind: string; message: string }>>('events', 'flap')).filter((e) =>
    /-> crashloop/.test(e.message),
  ).length;

before(async () => {
  servers = [
    await listen('127.0.0.1', HTTP_PORT, (p, b) => hooks.push({ path: p, body: JSON.parse(b) })),
    await listen('127.0.0.2', REFUSED_PORT, (p) => refused.push(p)),
  ];
  smtpd = spawn('/usr/bin/python3', ['-u', '-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${SMTP_PORT}`], { stdio: 'pipe' });
  smtpd.stdout?.on('data', (c: Buffer) => (mail += c.toString()));
  await waitFor(
    'aiosmtpd listening',
    () => new Promise((ok) => connect(SMTP_PORT, '127.0.0.1', () => ok(true)).on('error', () => ok(false))),
  );
  mkdirSync(home.home, { recursive: true });
  writeFileSync(path.join(home.home, 'config.yaml'), config);
  assertOk(await home.cli('daemon', 'start'));
});
after(async () => {
  servers.forEach((s) => s.close());
  smtpd.kill();
  await home.cleanup();
});

test('a flapping instance: one alert, none again after a berthd restart, one "resolved" once fixed', async () => {
  const dir = home.app('flap', flapping(false));
  assertOk(await home.cli('deploy', dir));
  await waitFor('the crashloop alert', () => about('crashloop', 'flap/production/web').length > 0, 30_000);
  // berthd restarts with the incident open: it must not tell again.
  assertOk(await home.cli('daemon', 'stop'));
  assertOk(await home.cli('daemon', 'start'));
  // The new berthd counts the instance's failures anew: it starts and crashes five times, then is in crashloop
  // again. Still the one alert: the incident was open, and the instance never stopped crashing.
  const seen = await crashloops();
  await waitFor('crashloop again', async () => (await crashloops()) > seen, 40_000, 500);
  await sleep(1000); // a look that would tell again has had its time (looks are every 500 ms)
  assert.deepEqual(about('crashloop', 'flap/production/web'), ['firing']);
  writeFileSync(path.join(dir, 'berth.yaml'), flapping(true));
  assertOk(await home.cli('deploy', dir));
  await waitFor('the resolved message', () => about('crashloop', 'flap/production/web').length > 1, 30_000);
  await sleep(1000);
  assert.deepEqual(about('crashloop', 'flap/production/web'), ['firing', 'resolved']);
  const slack = hooks.filter((h) => h.path === '/slack' && /crashloop flap\/production\/web/.test(h.body.text ?? ''));
  assert.equal(slack.length, 2);
  assert.equal(slack[0]?.body.content, slack[0]?.body.text); // Discord reads `content`
  assert.deepEqual(about('disk', path.join(home.root, 'home')), ['firing']); // 1 %: the disk rule holds throughout
});

test('a failed deploy: one alert naming the error, resolved by the next good deploy', async () => {
  const dir = home.app(
    'broken',
    `app: broken\nservices:\n  web:\n    run: ["${NODE}", "-e", "process.exit(3)"]\n    health: { start_timeout: 2s }\n`,
  );
  assert.equal((await home.cli('deploy', dir)).code, 1);
  await waitFor('the deploy alert', () => about('deploy_failed', 'broken/production').length > 0, 30_000);
  const alert = hooks.flatMap((h) => h.body.alerts ?? []).find((a) => a.rule === 'deploy_failed');
  assert.match(alert?.message ?? '', /deploy of broken \(production\), release 1, failed: .*did not become ready/);
  writeFileSync(path.join(dir, 'berth.yaml'), flapping(true).replace('app: flap', 'app: broken'));
  assertOk(await home.cli('deploy', dir));
  await waitFor('resolved', () => about('deploy_failed', 'broken/production').length > 1, 30_000);
  assert.deepEqual(about('deploy_failed', 'broken/production'), ['firing', 'resolved']);
});

/** Fails its health check (HTTP 500) while the test's flag file exists; never restarted, so it stays unhealthy. */
const SICK_FLAG = path.join(home.root, 'sick-flag');
const SICK_CODE = `const fs = require('fs'); require('http').createServer((q, s) => { s.statusCode = fs.existsSync(${JSON.stringify(SICK_FLAG)}) ? 500 : 200; s.end(); }).listen(process.env.PORT, '127.0.0.1')`;

test('unhealthy longer than `after`: one alert, "resolved" once healthy; an instance that stays down: doctor_error', async () => {
  const dir = home.app(
    'sick',
    `app: sick\nservices:\n  web:\n    run: [${JSON.stringify(NODE)}, "-e", ${JSON.stringify(SICK_CODE)}]\n    restart: never\n    health: { http: /healthz, interval: 200ms, unhealthy_threshold: 1 }\n`,
  );
  assertOk(await home.cli('deploy', dir));
  writeFileSync(SICK_FLAG, '');
  await waitFor('the unhealthy alert', () => about('unhealthy', 'sick/production/web').length > 0, 30_000);
  const alert = hooks.flatMap((h) => h.body.alerts ?? []).find((a) => a.rule === 'unhealthy');
  assert.match(alert?.message ?? '', /^sick\/web\[0\] \(production\) has failed its health check for \d+ minute\(s\)$/);
  unlinkSync(SICK_FLAG);
  await waitFor('resolved', () => about('unhealthy', 'sick/production/web').length > 1, 30_000);
  assert.deepEqual(about('unhealthy', 'sick/production/web'), ['firing', 'resolved']);

  // Killed, and never restarted: doctor reports it down (an error no other rule covers), seen by the doctor's run.
  const [inst] = await home.json<Array<{ pid: number }>>('ps', 'sick');
  process.kill(inst!.pid, 'SIGKILL');
  const down = 'instance-down:sick/production/web';
  await waitFor('the doctor_error alert', () => about('doctor_error', down).length > 0, 30_000);
  assertOk(await home.cli('deploy', dir));
  await waitFor('doctor_error resolved', () => about('doctor_error', down).length > 1, 30_000);
  assert.deepEqual(about('doctor_error', down), ['firing', 'resolved']);
  assert.deepEqual(about('unhealthy', 'sick/production/web'), ['firing', 'resolved']);
});

test('e-mail goes through the SMTP server: the alert and its "resolved"', () => {
  const messages = mail.split('---------- MESSAGE FOLLOWS ----------').slice(1);
  const firing = messages.find((m) => /^FIRING crashloop flap\/production\/web: /m.test(m));
  assert.match(firing ?? mail, /^To: ops@example\.com$/m);
  assert.match(firing ?? '', /^Subject: \[berth [^\]]+\] 1 firing: crashloop flap\/production\/web$/m);
  assert.ok(
    messages.some((m) => /^RESOLVED crashloop flap\/production\/web: /m.test(m)),
    mail,
  );
});

test('a target on an internal address outbound_allow does not list is refused, and the app hears why', async () => {
  assert.deepEqual(refused, []);
  const events = await home.json<Array<{ kind: string; message: string }>>('events', 'flap');
  const failed = events.find((e) => e.kind === 'alert.failed');
  assert.match(
    failed?.message ?? '',
    /alert to webhook http:\/\/127\.0\.0\.2:29312 failed: .*loopback address.*outbound_allow/,
  );
});

test('config errors name the field and how to fix it', () => {
  const bad = (alerts: unknown) => {
    try {
      parseHostSettings({ alerts }, 'config.yaml', {});
    } catch (err) {
      return `${(err as Error).message} | ${(err as { hint?: string }).hint}`;
    }
    return 'accepted';
  };
  assert.match(
    bad({ targets: [{ email: 'ops@example.com' }] }),
    /alerts\.targets\.0\.smtp: an email target needs smtp: "smtp:\/\/host:port"/,
  );
  assert.match(
    bad({ targets: [{ webhook: 'ftp://x' }] }),
    /alerts\.targets\.0\.webhook: expected an http:\/\/ or https:\/\/ URL/,
  );
  assert.match(
    bad({ targets: [{ webhook: 'https://a/b', slack: 'https://c/d' }] }),
    /alerts\.targets\.0: give exactly one of webhook, slack or email/,
  );
  assert.match(bad({ targets: [{ webhook: 'https://a/b' }], resolve_after: 'soon' }), /alerts\.resolve_after: .*"5m"/);
  assert.match(bad({ targets: [] }), /alerts\.targets: list at least one target.*\| alerts: \{ targets:/);
});

test('the doctor rules: backup, certificate (Caddy only past its renewal point), other errors without repeats', () => {
  const rules = parseHostSettings({ alerts: { targets: [{ webhook: 'https://a/b' }] } }, 'config.yaml', {}).alerts
    ?.rules as AlertRules;
  const now = Date.parse('2026-12-02T00:00:00Z');
  const day = 86_400_000;
  const found = doctorConditions(
    [
      { severity: 'error', code: 'backup_failed', app: 'a', env: 'production', message: 'the last backup failed' },
      { severity: 'error', code: 'instance-crashloop', app: 'a', env: 'production', service: 'web', message: 'x' },
      { severity: 'error', code: 'route-no-upstream', app: 'a', env: 'production', message: 'no upstream', fix: 'f' },
      { severity: 'warning', code: 'instance-restarting', app: 'a', message: 'y' },
    ],
    [
      { host: 'old.example', file: 'f', source: 'nginx', validFrom: now - 80 * day, validTo: now + 3 * day },
      { host: 'fresh.example', file: 'f', source: 'nginx', validFrom: now, validTo: now + 90 * day },
      { host: 'short.internal', file: 'f', source: 'caddy', validFrom: now - 2 * day, validTo: now + 5 * day },
      { host: 'late.internal', file: 'f', source: 'caddy', validFrom: now - 6 * day, validTo: now + 1 * day },
    ],
    rules,
    now,
  );
  assert.deepEqual(
    found.map((c) => `${c.rule} ${c.subject}`),
    [
      'backup a/production',
      'doctor_error route-no-upstream:a/production/-',
      'certificate old.example',
      'certificate late.internal',
    ],
  );
});
