import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { apiWorld, PASSWORD, SERVER, type Who } from './helpers/api-world.js';
import { assertOk, NODE } from './helpers/home.js';
import { hit } from './helpers/http.js';

/**
 * The API over TCP: sign-in rate limits, session cookies with CSRF, quotas and the audit log, and
 * the CLI used from another machine. The last test locks this client address: keep it last.
 */
const API = 18366;
const { home, base, tokens, socket, api } = apiWorld('32100-32199', API);

test('sign-in is rate-limited per account; sessions are httpOnly SameSite=Strict cookies that need the CSRF token to change anything', async () => {
  await socket().call('POST', '/v1/admin/users', { name: 'victim', password: PASSWORD, org: 'acme', role: 'member' });
  for (let i = 0; i < 5; i++)
    assert.equal(
      (await api('POST', '/v1/login', { body: { name: 'victim', password: `guess number ${i} ...` } })).status,
      401,
    );
  await socket().call('POST', '/v1/admin/users', { name: 'victim2', password: PASSWORD, org: 'acme', role: 'member' });
  const parallel = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      api('POST', '/v1/login', { body: { name: 'victim2', password: `parallel guess ${i} ...` } }),
    ),
  );
  assert.equal(
    parallel.filter((r) => r.status === 401).length,
    5,
    'guesses sent at once are counted as they arrive, not after their check',
  );
  assert.equal(parallel.filter((r) => r.status === 429).length, 7);
  const locked = await api('POST', '/v1/login', { body: { name: 'victim', password: PASSWORD } });
  assert.equal(locked.status, 429, 'even the right password waits');
  assert.ok(Number(locked.headers.get('retry-after')) > 0);
  const s = await api('POST', '/v1/login', { body: { name: 'member', password: PASSWORD, session: true } });
  const cookie = s.headers.get('set-cookie') ?? '';
  assert.match(cookie, /^berth_session=berths_[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+/);
  const jar = { cookie: cookie.split(';')[0] as string };
  assert.equal((await api('GET', '/v1/apps/shop/instances', { headers: jar })).status, 200);
  assert.equal(
    (await api('POST', '/v1/apps/shop/restart', { headers: jar, body: {} })).status,
    403,
    'no CSRF token: refused',
  );
  assert.equal(
    (await api('POST', '/v1/apps/shop/restart', { headers: { ...jar, 'x-csrf-token': 'berthc_wrong' }, body: {} }))
      .status,
    403,
  );
  assert.equal(
    (await api('POST', '/v1/apps/shop/restart', { headers: { ...jar, 'x-csrf-token': s.body.csrf }, body: {} })).status,
    200,
  );
  assert.equal(
    (await api('GET', '/v1/me', { token: (cookie.split(';')[0] as string).split('=')[1] })).status,
    401,
    'a session is not a bearer token',
  );
});

test('quotas per organisation, and the audit log says who did what', async () => {
  const s = socket();
  await s.call('PUT', '/v1/orgs/other/quota', { apps: 1, instances: 2 });
  const second = home.app('rival2', `app: rival2\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n`);
  const refused = await home.cli('deploy', second, '--org', 'other');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /organisation "other" has reached its quota of 1 app/);
  await s.call('PUT', '/v1/orgs/other/quota', { apps: null, instances: 2 });
  const big = home.app(
    'rival3',
    `app: rival3\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    instances: 2\n`,
  );
  const tooMany = await home.cli('deploy', big, '--org', 'other');
  assert.match(tooMany.stderr, /may run 2 instance\(s\); it runs 1 elsewhere and this deploy needs 2/);
  assert.equal(
    (await s.call<{ apps: string[] }>('GET', '/v1/apps')).apps.includes('rival3'),
    false,
    'nothing of it was registered',
  );
  // Two deploys at once, each fitting alone (1 + 2 of 3), not together: exactly one gets the places.
  await s.call('PUT', '/v1/orgs/other/quota', { apps: null, instances: 3 });
  const pair = ['rival4', 'rival5'].map((name) =>
    home.app(name, `app: ${name}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    instances: 2\n`),
  );
  const both = await Promise.all(pair.map((dir) => home.cli('deploy', dir, '--org', 'other')));
  assert.deepEqual(both.map((x) => x.code).sort(), [0, 1], both.map((x) => x.stderr).join('\n'));
  assert.match(
    both.find((x) => x.code === 1)!.stderr,
    /may run 3 instance\(s\); it runs 3 elsewhere and this deploy needs 2/,
  );
  const running = (await s.call<Array<{ app: string; state: string }>>('GET', '/v1/instances')).filter((v) =>
    v.app.startsWith('rival'),
  );
  assert.equal(running.length, 3, JSON.stringify(running));
  // A rollback is held to the quota too: release 1 of the winner ran 2 instances, release 2 runs 1.
  const winner = pair[both.findIndex((x) => x.code === 0)]!;
  const name = path.basename(winner);
  writeFileSync(
    path.join(winner, 'berth.yaml'),
    `app: ${name}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    instances: 1\n`,
  );
  assertOk(await home.cli('deploy', winner));
  await s.call('PUT', '/v1/orgs/other/quota', { apps: null, instances: 2 });
  const back = await home.cli('rollback', name, '1');
  assert.equal(back.code, 1);
  assert.match(back.stderr, /may run 2 instance\(s\); it runs 1 elsewhere and this deploy needs 2/);
  const after = await s.call<Array<{ app: string; release: number; current: boolean }>>(
    'GET',
    `/v1/instances?app=${name}`,
  );
  assert.deepEqual(
    after.filter((v) => v.current).map((v) => v.release),
    [2],
    'release 2 still serves',
  );
  assert.equal((await api('POST', '/v1/apps/shop/start', { token: tokens.viewer, body: {} })).status, 403);
  const audit = (await api('GET', '/v1/orgs/acme/audit?limit=5000', { token: tokens.admin })).body as Array<{
    actor: string;
    action: string;
    target: string;
    outcome: string;
  }>;
  assert.ok(
    audit.some(
      (a) =>
        a.actor === 'user:member' &&
        a.action === 'POST /v1/apps/:app/restart' &&
        a.target === 'app=shop' &&
        a.outcome === '200',
    ),
  );
  assert.ok(
    audit.some((a) => a.actor === 'user:viewer' && a.action === 'POST /v1/apps/:app/start' && a.outcome === '403'),
    'refusals too',
  );
  assert.ok(!audit.some((a) => a.target.includes('rival')), "another organisation's actions are not in it");
});

test('the CLI works remotely: berth login stores a token (0600), then commands go to the remote berthd', async () => {
  const env = { ...home.env, BERTH_HOME: path.join(home.root, 'nowhere') }; // no local daemon to fall back on
  const run = (args: string[], input?: string) => home.run(args, { input, env });
  const signedIn = await run(['login', base, '--user', 'member', '--password-stdin'], PASSWORD + '\n');
  assert.equal(signedIn.code, 0, signedIn.stderr);
  const file = path.join(home.root, 'config', 'berth', 'credentials.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const ps = JSON.parse((await run(['ps', '--json'])).stdout) as Array<{ app: string }>;
  assert.deepEqual([...new Set(ps.map((v) => v.app))], ['shop']);
  const deployed = await run(['deploy', '--app', 'shop', '--json']);
  assert.equal(deployed.code, 0, deployed.stderr);
  const rm = await run(['rm', 'shop']);
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /needs the admin role; you are member/);
  const hostOnly = await run(['config', 'get']);
  assert.match(hostOnly.stderr, /only root on the host can do this/);
  // A new app from a directory on this (client) machine: the tree travels with the request.
  const local = home.app(
    'uploaded',
    `app: uploaded\nservices:\n  web:\n    run: ["${NODE}", "server.js"]\n    routes: [uploaded.test]\n`,
    {
      'server.js':
        "require('http').createServer((q, s) => s.end(require('fs').readFileSync('VERSION', 'utf8'))).listen(process.env.PORT, '127.0.0.1')\n",
      VERSION: 'one',
    },
  );
  const up1 = await run(['deploy', local, '--org', 'acme', '--json']);
  assert.equal(up1.code, 0, up1.stderr + up1.stdout);
  assert.equal((await hit(home.httpPort, 'uploaded.test', '/')).text(), 'one');
  writeFileSync(path.join(local, 'VERSION'), 'two');
  assert.equal((await run(['deploy', local, '--json'])).code, 0);
  assert.equal((await hit(home.httpPort, 'uploaded.test', '/')).text(), 'two');
  const shopDir = home.app('shop-copy', `app: shop\nservices:\n  web:\n    run: ["true"]\n`);
  assert.match(
    (await run(['deploy', shopDir])).stderr,
    /shop deploys from .* on the host; an upload does not replace it/,
  );
  assert.equal((await run(['logout'])).code, 0);
  assert.equal((await run(['whoami'])).code, 1, 'signed out: back to the (absent) local daemon');
});

test("a remote admin registers an app before its first deploy (a private image's registry login) in an organisation of theirs, within its quota", async () => {
  const VALUE = `fresh-registry-pass-${process.pid}`;
  const put = (who: Who, app: string, org?: string) =>
    api('PUT', `/v1/apps/${app}/secrets/REGISTRY_PASSWORD`, {
      token: tokens[who],
      body: { value: VALUE, ...(org ? { org } : {}) },
    });
  for (const who of ['viewer', 'member'] as const) {
    const r = await put(who, 'fresh', 'acme');
    assert.equal(r.status, 403, `${who}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, /registering an app in acme: needs the admin role/);
  }
  const outside = await put('outsider', 'fresh', 'acme');
  assert.equal(outside.status, 404, JSON.stringify(outside.body));
  assert.match(outside.body.error.message, /no app named "fresh", and no organisation "acme" of yours/);
  assert.equal((await put('admin', 'fresh')).status, 404, '"default" is none of theirs');
  assert.equal((await put('outsider', 'shop', 'other')).status, 404, 'an app of another organisation stays unseen');
  assert.equal((await put('admin', 'shop', 'other')).status, 409, 'an existing app stays in its organisation');
  await socket().call('PUT', '/v1/orgs/acme/quota', { apps: 1 });
  const full = await put('admin', 'fresh', 'acme');
  assert.equal(full.status, 409);
  assert.match(full.body.error.message, /organisation "acme" has reached its quota of 1 app/);
  await socket().call('PUT', '/v1/orgs/acme/quota', { apps: null });
  assert.equal((await api('GET', '/v1/apps/fresh/secrets', { token: tokens.admin })).status, 404, 'nothing registered');

  // With berth's CLI from another machine: the admin registers it, a member's first deploy (an upload) finds the secret.
  const env = { ...home.env, BERTH_HOME: path.join(home.root, 'nowhere') };
  const run = (args: string[], input?: string) => home.run(args, { input, env });
  assertOk(await run(['login', base, '--user', 'admin', '--password-stdin'], PASSWORD + '\n'));
  const set = await run(['secrets', 'set', 'fresh', 'REGISTRY_PASSWORD', '--org', 'acme'], VALUE);
  assertOk(set);
  assert.match(set.stdout, /fresh: registered \(never deployed\); secret REGISTRY_PASSWORD set/);
  assert.deepEqual(
    (await api('GET', '/v1/apps/fresh/secrets', { token: tokens.member })).body.map((x: { name: string }) => x.name),
    ['REGISTRY_PASSWORD'],
  );
  assert.equal((await api('GET', '/v1/apps/fresh/secrets', { token: tokens.outsider })).status, 404);
  assertOk(await run(['login', base, '--user', 'member', '--password-stdin'], PASSWORD + '\n'));
  const dir = home.app(
    'fresh',
    `app: fresh\nservices:\n  web:\n    run: ["${NODE}", "server.js"]\n    routes: [fresh.test]\n`,
    {
      'server.js':
        "require('http').createServer((q, s) => s.end(require('crypto').createHash('sha256').update(String(process.env.REGISTRY_PASSWORD)).digest('hex'))).listen(process.env.PORT, '127.0.0.1')\n",
    },
  );
  assertOk(await run(['deploy', dir, '--org', 'acme', '--json']));
  assert.equal(
    (await hit(home.httpPort, 'fresh.test', '/')).text(),
    createHash('sha256').update(VALUE).digest('hex'),
    'the first deploy has the secret',
  );
  assertOk(await run(['logout']));
  assertOk(await home.cli('rm', 'fresh'));
});

test('sign-in is rate-limited per client address too: many accounts guessed from one place (last: it locks this address)', async () => {
  let status = 0;
  for (let i = 0; i < 25 && status !== 429; i++)
    status = (await api('POST', '/v1/login', { body: { name: `nobody${i}`, password: 'wrong password guess' } }))
      .status;
  assert.equal(status, 429, 'after 20 failures from 127.0.0.1');
  const r = await api('POST', '/v1/login', { body: { name: 'owner', password: PASSWORD } });
  assert.equal(r.status, 429, 'the address waits even with a right password for another account');
  assert.equal((await api('GET', '/v1/me', { token: tokens.owner })).status, 200, 'tokens already issued keep working');
});
