import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/api/client.js';
import { hit } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome } from './helpers/home.js';

/**
 * Secrets: encrypted at rest, given to instances and builds, never printed. The canary is a
 * random value set as a secret; after a full deploy (build that echoes it, an app that logs
 * it, a failing deploy that quotes its log), it appears nowhere Berth writes or answers.
 */
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('25300-25399');
const P = home.httpPort;
const API = 18353;
Object.assign(home.env, { BERTH_API_LISTEN: `127.0.0.1:${API}` });
const CANARY = `canary-${randomBytes(12).toString('hex')}`;
const socket = () => new ApiClient(path.join(home.home, 'berthd.sock'));

const manifest = (crash: boolean) => `app: vault
services:
  web:
    run: ["${NODE}", "app.mjs"]
    env: { FAIL_NOW: "${crash ? 1 : 0}" }
    build: 'echo "building with $CANARY"'
    health: { start_timeout: 3s }
    routes: [vault.test]
`;

const cli = (args: string[], input = '') => home.run(args, { input });

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.isFile() ? [path.join(dir, e.name)] : [],
  );
}

const printed: Array<[string, string]> = [];
const keep = (what: string, text: string) => (printed.push([what, text]), text);

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
});
after(() => home.cleanup());

test('a secret reaches the instances and builds, and is printed nowhere: canary over a full deploy', async () => {
  const app = `console.log('my token is', process.env.CANARY);\nif (process.env.FAIL_NOW === '1') setTimeout(() => process.exit(3), 200);\nelse await import(${JSON.stringify(SERVER)});\n`;
  const dir = home.app('vault', manifest(false), { VERSION: '1', 'app.mjs': app });
  assertOk(await home.cli('deploy', dir));
  const set = await cli(['secrets', 'set', 'vault', 'CANARY'], CANARY + '\n');
  assert.equal(set.code, 0, set.stderr);
  keep('secrets set', set.stdout + set.stderr);
  assert.equal((await cli(['secrets', 'set', 'vault', 'PORT'], 'x\n')).code, 1, 'names Berth sets are refused');
  writeFileSync(path.join(dir, 'VERSION'), '2');
  keep('deploy', JSON.stringify(await home.json('deploy', dir)));
  assert.equal((await hit(P, 'vault.test', '/env')).json().CANARY, CANARY, 'the instance has the secret');
  // A deploy that fails: its error quotes the instance's last log lines, which print the secret.
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(true));
  const failed = await cli(['deploy', dir, '--json']);
  assert.equal(failed.code, 1);
  assert.match(failed.stdout, /my token is \[redacted\]/, 'the error quotes the log, redacted');
  keep('failed deploy', failed.stdout + failed.stderr);
  for (const args of [
    ['ps', '--json'],
    ['events', 'vault', '--json'],
    ['releases', 'vault', '--json'],
    ['logs', 'vault'],
    ['logs', 'vault', '--json'],
    ['doctor', '--json'],
    ['routes', '--json'],
    ['secrets', 'ls', 'vault', '--json'],
    ['env', 'ls', 'vault', '--json'],
  ]) {
    const r = await cli(args);
    keep(args.join(' '), r.stdout + r.stderr);
  }
  assert.match(printed.find(([w]) => w === 'logs vault')?.[1] ?? '', /my token is \[redacted\]/);
  assert.deepEqual(
    (JSON.parse(printed.find(([w]) => w === 'secrets ls vault --json')?.[1] ?? '[]') as Array<{ name: string }>).map(
      (s) => s.name,
    ),
    ['CANARY'],
  );
  // The streaming deploy and every GET route over TCP, as an admin of the app's organisation.
  const s = socket();
  for await (const chunk of s.stream('/v1/deployments', 'POST', { dir, stream: true })) keep('stream', chunk);
  await s.call('POST', '/v1/admin/users', {
    name: 'ops',
    password: 'correct horse battery staple',
    org: 'default',
    role: 'owner',
  });
  const token = (
    (await (
      await fetch(`http://127.0.0.1:${API}/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ops', password: 'correct horse battery staple' }),
      })
    ).json()) as { token: string }
  ).token;
  const doc = (await (await fetch(`http://127.0.0.1:${API}/v1/openapi.json`)).json()) as {
    paths: Record<string, Record<string, unknown>>;
  };
  for (const [p, ops] of Object.entries(doc.paths)) {
    if (!ops.get) continue;
    const url = p.replace('{app}', 'vault').replace('{org}', 'default');
    const res = await fetch(`http://127.0.0.1:${API}${url}`, { headers: { authorization: `Bearer ${token}` } });
    keep(`GET ${url} (${res.status})`, await res.text());
  }
  const bad = await fetch(`http://127.0.0.1:${API}/v1/apps/vault/secrets/${CANARY.replace(/-/g, '_')}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` },
  });
  keep('error', await bad.text());
  // An error that quotes what the caller sent: the canary is a valid app name.
  const echoed = await fetch(`http://127.0.0.1:${API}/v1/apps/${CANARY}/instances`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const echoedText = keep('echoed error', await echoed.text());
  assert.equal(echoed.status, 404);
  assert.match(echoedText, /no app named \\"\[redacted\]\\"/);
  assert.doesNotThrow(() => JSON.parse(echoedText), 'still JSON');
  // Someone of another organisation who guesses the value learns nothing: their answers blank only their own apps' secrets.
  await s.call('POST', '/v1/orgs', { name: 'elsewhere' });
  await s.call('POST', '/v1/admin/users', {
    name: 'guesser',
    password: 'correct horse battery staple',
    org: 'elsewhere',
    role: 'owner',
  });
  const guesser = (
    (await (
      await fetch(`http://127.0.0.1:${API}/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'guesser', password: 'correct horse battery staple' }),
      })
    ).json()) as { token: string }
  ).token;
  const guess = await (
    await fetch(`http://127.0.0.1:${API}/v1/apps/${CANARY}/instances`, {
      headers: { authorization: `Bearer ${guesser}` },
    })
  ).text();
  assert.ok(guess.includes(CANARY) && !guess.includes('[redacted]'), 'no oracle: ' + guess);

  const leaks = printed.filter(([, text]) => text.includes(CANARY)).map(([what]) => what);
  assert.deepEqual(leaks, [], 'the canary in no output, response, stream or error');
  // On disk: every file Berth wrote (store, berthd.log, build logs, proxy files, journal) but the app's own log files.
  const own = path.join(home.home, 'logs', 'vault', 'production');
  const appLogs = files(own).filter((f) => /\/web\.\d+\.r\d+\.log/.test(f));
  assert.ok(
    appLogs.some((f) => readFileSync(f, 'utf8').includes(CANARY)),
    'the app itself printed the canary (so the test is real)',
  );
  const written = files(home.home).filter((f) => !appLogs.includes(f) && !f.endsWith('secrets.key'));
  assert.ok(
    written.some((f) => f.endsWith('berth.db')) &&
      written.some((f) => /build-\d+\.log$/.test(f)) &&
      written.some((f) => f.endsWith('berthd.log')),
  );
  assert.deepEqual(
    written.filter((f) => readFileSync(f).includes(CANARY)),
    [],
    'the canary in no file Berth wrote: the store holds it encrypted',
  );
  assert.match(
    readFileSync(written.find((f) => /build-2\.log$/.test(f)) as string, 'utf8'),
    /building with \[redacted\]/,
  );
  assert.equal(statSync(path.join(home.home, 'secrets.key')).mode & 0o777, 0o600);
});

test("an environment's own secret wins over the app-wide one; unset removes it", async () => {
  const dir = path.join(home.root, 'apps', 'vault');
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(false));
  assert.equal(
    (await cli(['secrets', 'set', 'vault', 'CANARY', '--env', 'production'], 'production-only-value\n')).code,
    0,
  );
  assertOk(await home.cli('deploy', dir));
  assert.equal((await hit(P, 'vault.test', '/env')).json().CANARY, 'production-only-value');
  assert.equal((await cli(['secrets', 'unset', 'vault', 'CANARY', '--env', 'production'])).code, 0);
  assertOk(await home.cli('restart', 'vault'));
  assert.equal((await hit(P, 'vault.test', '/env')).json().CANARY, CANARY);
  const missing = await cli(['secrets', 'unset', 'vault', 'NOPE']);
  assert.match(missing.stderr, /vault has no secret NOPE/);
});

test("another organisation's secrets that are common words blank nothing in root's view or berthd's log", async () => {
  const s = socket();
  await s.call('POST', '/v1/orgs', { name: 'nosy' });
  const plain = (name: string) =>
    `app: ${name}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [${name}.test]\n`;
  assertOk(await home.cli('deploy', home.app('tenant-b', plain('tenant-b')), '--org', 'nosy'));
  // Tenant B's values: the words of a successful deploy, tenant A's app name, an audit actor.
  const words = ['healthy', 'production', 'succeeded', 'shopfront', 'user:ops'];
  for (const [i, w] of words.entries())
    assert.equal((await cli(['secrets', 'set', 'tenant-b', `W${i}`], w + '\n')).code, 0);
  const deployed = await cli(['deploy', home.app('shopfront', plain('shopfront')), '--json']);
  assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
  const views = [deployed.stdout];
  for (const args of [['ps', '--json'], ['events', 'shopfront', '--json'], ['ps']])
    views.push((await cli(args)).stdout);
  for (const v of views) assert.ok(!v.includes('[redacted]'), `nothing of shopfront blanked: ${v}`);
  assert.equal((JSON.parse(deployed.stdout) as { status: string }).status, 'succeeded');
  assert.match(views[1] as string, /"app": ?"shopfront"[^}]*"env": ?"production"[^}]*"state": ?"healthy"/);
  const log = readFileSync(path.join(home.home, 'berthd.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"app":"shopfront"'));
  assert.ok(
    log.some((l) => l.includes('"to":"healthy"')) && !log.some((l) => l.includes('[redacted]')),
    log.join('\n'),
  );
});

test('a secret shorter than 6 characters is refused, with the reason', async () => {
  const short = await cli(['secrets', 'set', 'vault', 'PIN'], '12345\n');
  assert.equal(short.code, 1);
  assert.match(short.stderr, /at least 6 characters.*could not be hidden/);
  assert.ok(!short.stderr.includes('12345'), 'the value is not printed');
  const listed = JSON.parse((await cli(['secrets', 'ls', 'vault', '--json'])).stdout) as Array<{ name: string }>;
  assert.ok(!listed.some((x) => x.name === 'PIN'));
});
