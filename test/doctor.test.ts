import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { instanceChecks } from '../src/doctor/checks/instances.js';
import type { Facts } from '../src/doctor/facts.js';
import type { Finding } from '../src/doctor/finding.js';
import type { InstanceView } from '../src/store/instances-repo.js';
import { hit } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const GOLDEN = path.join(REPO, 'test', 'golden', 'doctor', 'seed-000.txt');
const home = new TestHome('24200-24299');
const P = home.httpPort;
let squatter: ChildProcess | undefined;
before(() => home.cli('daemon', 'start'));
after(async () => {
  squatter?.kill();
  await home.cleanup();
});

/** Seed 000's server: a front end up, a backend whose start failed, its route pointing at nothing, and a foreign process on its port. */
const manifest = `app: autoauthor
services:
  frontend:
    run: ["${NODE}", "${SERVER}"]
    routes: [dev.autoauthor.test]
  backend:
    run: ["${NODE}", "${SERVER}"]
    restart: never
    env: { CRASH: 1, CRASH_AFTER_MS: 1500 }
    routes: [{ host: dev.autoauthor.test, path: /api/ }]
`;

function normalise(text: string, backendPort: number, frontendPort: number, squatterPid: number): string {
  return text
    .replaceAll(home.home, '$BERTH_HOME')
    .replaceAll(REPO, '$REPO')
    .replaceAll(String(squatterPid), '<squatter-pid>')
    .replaceAll(`(user ${userInfo().username})`, '(user <user>)')
    .replaceAll(process.execPath, 'node')
    .replaceAll(String(backendPort), '<backend-port>')
    .replaceAll(String(frontendPort), '<frontend-port>')
    .replace(/^( {4}.*)$/gm, (l) => l.replace(/\d+/g, 'N'));
}

test('the seed 000 server: doctor names each problem with its code, severity and fix (golden)', async () => {
  const dir = home.app('autoauthor', manifest);
  assertOk(await home.cli('deploy', dir));
  const ps = await home.json<InstanceStatus[]>('ps', 'autoauthor');
  const backend = ps.find((s) => s.service === 'backend') as InstanceStatus;
  const frontend = ps.find((s) => s.service === 'frontend') as InstanceStatus;
  await waitFor(
    'the backend to die',
    async () =>
      (await home.json<InstanceStatus[]>('ps', 'autoauthor')).find((s) => s.service === 'backend')?.state === 'exited',
    10_000,
  );
  assert.equal((await hit(P, 'dev.autoauthor.test', '/api/books')).status, 502);
  // A foreign process squats on the port Berth leased to the backend (the seed's "container on 8000").
  squatter = spawn(NODE, [SERVER], {
    env: { PATH: process.env.PATH, PORT: String(backend.port), BERTH_TEST_HOME: home.home },
    stdio: 'ignore',
  });
  await waitFor('the squatter to listen', () =>
    hit(backend.port as number, 'x', '/').then(
      () => true,
      () => false,
    ),
  );
  const r = await home.cli('doctor');
  assert.equal(r.code, 2, 'errors exit 2');
  const text = normalise(r.stdout, backend.port as number, frontend.port as number, squatter.pid as number);
  if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, text);
  assert.equal(text, readFileSync(GOLDEN, 'utf8'));
  const json = await home.cli('doctor', 'autoauthor', '--json');
  const findings = (JSON.parse(json.stdout) as { findings: Finding[] }).findings;
  assert.deepEqual(
    findings.map((f) => [f.severity, f.code, f.service]),
    [
      ['error', 'instance-down', 'backend'],
      ['error', 'lease-port-foreign', 'backend'],
      ['error', 'route-no-upstream', 'backend'],
    ],
  );
  assert.equal(findings[1]?.fix, `kill ${squatter.pid}`);
});

test('pre-flight: a deploy refuses on errors it would not repair, quoting them; --force deploys and says what it ignored', async () => {
  const dir = path.join(home.root, 'apps', 'autoauthor');
  writeFileSync(
    path.join(dir, 'berth.yaml'),
    manifest.replace('env: { CRASH: 1, CRASH_AFTER_MS: 1500 }', 'env: { VERSION: fixed }'),
  );
  const refused = await home.cli('deploy', dir);
  assert.equal(refused.code, 1);
  const pid = squatter?.pid as number;
  assert.match(
    refused.stderr,
    new RegExp(
      `pre-flight checks found 1 problem\\(s\\) with autoauthor:\\n  lease-port-foreign: port \\d+ is leased to autoauthor/production/backend\\[0\\], but pid ${pid} \\(user ${userInfo().username}\\): .* holds it \\(fix: kill ${pid}\\)\\n  hint: fix them \\(see \`berth doctor autoauthor\`\\), or deploy with --force`,
    ),
  );
  const forced = await home.cli('deploy', dir, '--force', '--json');
  assertOk(forced);
  const result = JSON.parse(forced.stdout) as { status: string; warnings: string[] };
  assert.equal(result.status, 'succeeded');
  assert.match(result.warnings[0] ?? '', /^pre-flight ignored \(--force\): lease-port-foreign: port \d+ is leased/);
  const fixed = (await home.json<InstanceStatus[]>('ps', 'autoauthor')).find(
    (x) => x.service === 'backend',
  ) as InstanceStatus;
  assert.deepEqual([fixed.release, fixed.state], [2, 'healthy']);
  assert.equal((await hit(P, 'dev.autoauthor.test', '/api/books')).json().port, fixed.port);
  squatter?.kill();
  squatter = undefined;
  const clean = await home.cli('doctor', 'autoauthor');
  assert.equal(clean.code, 0, clean.stdout);
});

test('drift and leftovers: an unknown process with a Berth mark, a stray release dir, the data of a removed app', async () => {
  const marker = createHash('sha256').update(home.home).digest('hex').slice(0, 12) + ':9999';
  const stray = spawn('sleep', ['30'], {
    env: { PATH: process.env.PATH, BERTH_INSTANCE: marker, BERTH_TEST_HOME: home.home },
    stdio: 'ignore',
  });
  const ghost = path.join(home.home, 'releases', 'autoauthor', 'production', '99');
  mkdirSync(ghost, { recursive: true });
  assertOk(
    await home.cli('deploy', home.app('gone', `app: gone\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n`)),
  );
  assertOk(await home.cli('rm', 'gone'));
  try {
    const r = await home.cli('doctor', '--json');
    assert.equal(r.code, 1, 'warnings exit 1');
    const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
    const byCode = new Map(findings.map((f) => [f.code, f]));
    assert.match(
      byCode.get('unknown-process')?.message ?? '',
      new RegExp(`pid ${stray.pid} .* carries the mark of instance 9999, which Berth does not know`),
    );
    assert.equal(byCode.get('unknown-process')?.fix, `kill ${stray.pid}`);
    assert.equal(byCode.get('orphan-release-dir')?.fix, `rm -rf ${ghost}`);
    assert.equal(byCode.get('orphan-data-dir')?.severity, 'info');
    assert.match(byCode.get('orphan-data-dir')?.message ?? '', /data\/gone is the data of an app that was removed/);
  } finally {
    stray.kill();
  }
});

const doctorOf = async (app: string) => {
  const r = await home.cli('doctor', app, '--json');
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
};

test('a service stopped on purpose is information (fix: berth start), not an error', async () => {
  const dir = home.app(
    'halted',
    `app: halted\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [halted.test]\n  api:\n    run: ["${NODE}", "${SERVER}"]\n`,
  );
  assertOk(await home.cli('deploy', dir));
  assertOk(await home.cli('stop', 'halted', 'web'));
  const { code, findings } = await doctorOf('halted');
  assert.deepEqual(
    findings.map((f) => [f.severity, f.code, f.service, f.fix]),
    [['info', 'service-stopped', 'web', 'berth start halted web']],
  );
  assert.match(findings[0]?.message ?? '', /halted\/production\/web was stopped on purpose .*routes answer 502/);
  assert.equal(code, 0, 'information does not fail doctor');
  assertOk(await home.cli('start', 'halted', 'web'));
  assert.deepEqual((await doctorOf('halted')).findings, []);
  assertOk(await home.cli('rm', 'halted'));
});

test('the first seconds of a crash loop: doctor names the crash with its log lines while the service restarts', async () => {
  // Serves until the flag exists; then each start crashes 3 s later, before it listens: mostly "starting".
  const flag = path.join(home.root, 'flappy.crash');
  const dir = home.app(
    'flappy',
    `app: flappy\nservices:\n  web:\n    run: ["./run.sh"]\n    env: { FLAG: "${flag}", NODE: "${NODE}", SERVER: "${SERVER}" }\n    routes: [flappy.test]\n`,
    {
      'run.sh': `#!/bin/sh\nif [ -e "$FLAG" ]; then echo starting up; sleep 3; echo 'boom: cannot reach the queue' >&2; exit 3; fi\nexec "$NODE" "$SERVER"\n`,
    },
  );
  assertOk(await home.cli('deploy', dir));
  const [web] = await home.json<InstanceStatus[]>('ps', 'flappy');
  writeFileSync(flag, '');
  process.kill(web?.pid as number, 'SIGKILL');
  const seen = await waitFor(
    'doctor to name the crash of a restarting instance',
    async () =>
      (await doctorOf('flappy')).findings.find(
        (f) => f.code === 'instance-restarting' && /starting again.*exit code 3/.test(f.message),
      ),
    30_000,
  );
  assert.equal(seen.severity, 'warning');
  assert.match(
    seen.message,
    /^flappy\/web\[0\] \(release 1\) is starting again after it crashed \d+ s ago: exit code 3 \(restart \d+\); last log lines:\n(.*\n)* {4}boom: cannot reach the queue/,
  );
  assertOk(await home.cli('rm', 'flappy'));
});

test('an instance whose recorded process is gone: doctor says it crashed, with its last log lines', async () => {
  const gone = spawn('true');
  await new Promise((r) => gone.once('exit', r));
  const log = path.join(home.root, 'crashed.log');
  writeFileSync(log, 'listening on 24250\nFATAL: out of memory\n');
  const v = {
    id: 1,
    app: 'ghost',
    env: 'production',
    environmentId: 1,
    service: 'web',
    idx: 0,
    releaseId: 1,
    release: 3,
    current: true,
    desired: 'running',
    state: 'healthy',
    stateSince: Date.now(),
    pid: gone.pid as number,
    startTicks: '1',
    port: 24250,
    restarts: 0,
    lastExit: null,
    startedAt: Date.now(),
    spec: '{}',
    rootDir: '/',
    orgId: 1,
  } satisfies InstanceView;
  const facts = {
    instances: [v],
    logFile: () => log,
    now: Date.now(),
    proxyTable: undefined,
    startTicks: new Map(), // the scan found no live process with that pid
  } as unknown as Facts;
  const [f, ...rest] = instanceChecks(facts);
  assert.deepEqual(rest, []);
  assert.ok(f);
  assert.equal(f.code, 'instance-pid-gone');
  assert.equal(
    f.message,
    `ghost/web[0] (release 3) is recorded as healthy with pid ${gone.pid}, but that process is gone: it crashed; last log lines:
    listening on 24250
    FATAL: out of memory`,
  );
});
