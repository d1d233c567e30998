import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { hit } from './helpers/http.js';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/api/client.js';
import { assertOk, NODE, REPO, TestHome } from './helpers/home.js';

/**
 * The API over TCP: who may call what. Real berthd, real argon2id, real tokens, real
 * sessions, over 127.0.0.1. The authorization matrix covers every route the OpenAPI
 * document lists; a route without an entry here fails the test.
 */
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('25200-25299');
const API = 18352;
const BASE = `http://127.0.0.1:${API}`;
Object.assign(home.env, { BERTH_API_LISTEN: `127.0.0.1:${API}`, XDG_CONFIG_HOME: path.join(home.root, 'config') });
const socket = () => new ApiClient(path.join(home.home, 'berthd.sock'));
const PASSWORD = 'correct horse battery staple';

const WHO = ['anonymous', 'outsider', 'viewer', 'member', 'admin', 'owner'] as const;
type Who = (typeof WHO)[number];
const tokens = {} as Record<Who, string | undefined>;

async function api(
  method: string,
  route: string,
  opts: { token?: string | undefined; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(BASE + route, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // text (logs)
  }
  return { status: res.status, body, headers: res.headers };
}

async function login(name: string, password = PASSWORD): Promise<string> {
  const r = await api('POST', '/v1/login', { body: { name, password } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.token as string;
}

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  const s = socket();
  await s.call('POST', '/v1/orgs', { name: 'acme' });
  await s.call('POST', '/v1/orgs', { name: 'other' });
  for (const role of ['viewer', 'member', 'admin', 'owner'] as const)
    await s.call('POST', '/v1/admin/users', { name: role, password: PASSWORD, org: 'acme', role });
  await s.call('POST', '/v1/admin/users', { name: 'outsider', password: PASSWORD, org: 'other', role: 'owner' });
  const app = (name: string) =>
    home.app(name, `app: ${name}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [${name}.test]\n`);
  assertOk(await home.cli('deploy', app('shop'), '--org', 'acme'));
  assertOk(await home.cli('deploy', app('rival'), '--org', 'other'));
  for (const who of WHO)
    tokens[who] = who === 'anonymous' ? undefined : await login(who === 'outsider' ? 'outsider' : who);
});
after(() => home.cleanup());

/**
 * Expected status per caller (anonymous, member of another org, viewer, member, admin,
 * owner). Calls that are allowed get an input that fails validation (400) where the route
 * would change something, so the matrix proves the decision without side effects; 200 for reads.
 */
const D = 401;
const F = 403;
const N = 404;
const B = 400;
const OK = 200;
const MATRIX: Record<
  string,
  { path: string; body?: unknown; expect: [number, number, number, number, number, number] }
> = {
  'GET /v1/openapi.json': { path: '/v1/openapi.json', expect: [OK, OK, OK, OK, OK, OK] },
  'GET /v1/daemon': { path: '/v1/daemon', expect: [D, OK, OK, OK, OK, OK] },
  'POST /v1/daemon/stop': { path: '/v1/daemon/stop', expect: [D, F, F, F, F, F] },
  'POST /v1/daemon/event-loop': { path: '/v1/daemon/event-loop', expect: [D, F, F, F, F, F] },
  'GET /v1/apps': { path: '/v1/apps', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/instances': { path: '/v1/instances', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/apps/:app/instances': { path: '/v1/apps/shop/instances', expect: [D, N, OK, OK, OK, OK] },
  'GET /v1/apps/:app/events': { path: '/v1/apps/shop/events', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/apps/:app/start': { path: '/v1/apps/shop/start', body: 'nope', expect: [D, N, F, B, B, B] },
  'POST /v1/apps/:app/stop': { path: '/v1/apps/shop/stop', body: 'nope', expect: [D, N, F, B, B, B] },
  'POST /v1/apps/:app/restart': { path: '/v1/apps/shop/restart', body: 'nope', expect: [D, N, F, B, B, B] },
  'DELETE /v1/apps/:app': { path: '/v1/apps/shop?purge=nope', expect: [D, N, F, F, B, B] },
  'GET /v1/apps/:app/environments': { path: '/v1/apps/shop/environments', expect: [D, N, OK, OK, OK, OK] },
  'DELETE /v1/apps/:app/environments/:env': {
    path: '/v1/apps/shop/environments/production?force=nope',
    expect: [D, N, F, B, B, B],
  },
  'GET /v1/events': { path: '/v1/events', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/routes': { path: '/v1/routes', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/config': { path: '/v1/config', expect: [D, F, F, F, F, F] },
  'PUT /v1/config': { path: '/v1/config', body: 'nope', expect: [D, F, F, F, F, F] },
  'GET /v1/doctor': { path: '/v1/doctor', expect: [D, F, F, F, F, F] },
  'GET /v1/apps/:app/doctor': { path: '/v1/apps/shop/doctor', expect: [D, N, OK, OK, OK, OK] },
  'GET /v1/images': { path: '/v1/images', expect: [D, F, F, F, F, F] },
  'GET /v1/apps/:app/images': { path: '/v1/apps/shop/images', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/images/prune': { path: '/v1/images/prune', body: 'nope', expect: [D, F, F, F, F, F] },
  'POST /v1/apps/:app/images/prune': { path: '/v1/apps/shop/images/prune', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/proxy': { path: '/v1/proxy', expect: [D, F, F, F, F, F] },
  'POST /v1/proxy/stop': { path: '/v1/proxy/stop', expect: [D, F, F, F, F, F] },
  'POST /v1/proxy/start': { path: '/v1/proxy/start', expect: [D, F, F, F, F, F] },
  'POST /v1/deployments': { path: '/v1/deployments', body: 'nope', expect: [D, B, B, B, B, B] },
  'POST /v1/uploads/deployments': { path: '/v1/uploads/deployments', body: 'nope', expect: [D, B, F, B, B, B] },
  'POST /v1/apps/:app/rollback': { path: '/v1/apps/shop/rollback', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/apps/:app/releases': { path: '/v1/apps/shop/releases', expect: [D, N, OK, OK, OK, OK] },
  'GET /v1/apps/:app/logs': { path: '/v1/apps/shop/logs', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/apps/:app/run': { path: '/v1/apps/shop/run', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/apps/:app/cron': { path: '/v1/apps/shop/cron', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/apps/:app/backups': { path: '/v1/apps/shop/backups', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/apps/:app/backups': { path: '/v1/apps/shop/backups', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/apps/:app/backups/:snapshot/restore': {
    path: '/v1/apps/shop/backups/abcdef12/restore',
    body: 'nope',
    expect: [D, N, F, B, B, B],
  },
  'GET /v1/apps/:app/database': { path: '/v1/apps/shop/database?show=nope', expect: [D, N, F, B, B, B] },
  'POST /v1/apps/:app/webhook': { path: '/v1/apps/shop/webhook', body: 'nope', expect: [D, N, F, F, B, B] },
  'POST /v1/hooks/github/:app': {
    path: '/v1/hooks/github/shop',
    body: { ref: 'refs/heads/main' },
    expect: [D, D, D, D, D, D],
  },
  'GET /v1/apps/:app/secrets': { path: '/v1/apps/shop/secrets', expect: [D, N, F, OK, OK, OK] },
  'PUT /v1/apps/:app/secrets/:name': { path: '/v1/apps/shop/secrets/TOKEN', body: 'nope', expect: [D, N, F, F, B, B] },
  'DELETE /v1/apps/:app/secrets/:name': { path: '/v1/apps/shop/secrets/TOKEN?env=', expect: [D, N, F, F, B, B] },
  'POST /v1/admin/users': { path: '/v1/admin/users', body: 'nope', expect: [D, F, F, F, F, F] },
  'POST /v1/orgs': { path: '/v1/orgs', body: 'nope', expect: [D, F, F, F, F, F] },
  'GET /v1/orgs': { path: '/v1/orgs', expect: [D, OK, OK, OK, OK, OK] },
  'PUT /v1/orgs/:org/quota': { path: '/v1/orgs/acme/quota', body: 'nope', expect: [D, F, F, F, F, F] },
  'GET /v1/orgs/:org/members': { path: '/v1/orgs/acme/members', expect: [D, N, OK, OK, OK, OK] },
  'PUT /v1/orgs/:org/members/:user': { path: '/v1/orgs/acme/members/viewer', body: 'nope', expect: [D, N, F, F, B, B] },
  'DELETE /v1/orgs/:org/members/:user': { path: `/v1/orgs/acme/members/${'x'.repeat(64)}`, expect: [D, N, F, F, B, B] },
  'POST /v1/orgs/:org/invites': { path: '/v1/orgs/acme/invites', body: 'nope', expect: [D, N, F, F, B, B] },
  'POST /v1/invites/accept': { path: '/v1/invites/accept', body: 'nope', expect: [B, B, B, B, B, B] },
  'POST /v1/orgs/:org/sites': { path: '/v1/orgs/acme/sites', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/orgs/:org/sites': { path: '/v1/orgs/acme/sites', expect: [D, N, OK, OK, OK, OK] },
  'DELETE /v1/orgs/:org/sites/:slug': { path: `/v1/orgs/acme/sites/${'x'.repeat(64)}`, expect: [D, N, F, F, B, B] },
  'GET /v1/orgs/:org/audit': { path: '/v1/orgs/acme/audit', expect: [D, N, F, F, OK, OK] },
  'GET /v1/audit': { path: '/v1/audit', expect: [D, F, F, F, F, F] },
  'POST /v1/login': { path: '/v1/login', body: 'nope', expect: [B, B, B, B, B, B] },
  'POST /v1/logout': { path: '/v1/logout', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/me': { path: '/v1/me', expect: [D, OK, OK, OK, OK, OK] },
  'POST /v1/tokens': { path: '/v1/tokens', body: 'nope', expect: [D, B, B, B, B, B] },
  'GET /v1/tokens': { path: '/v1/tokens', expect: [D, OK, OK, OK, OK, OK] },
  'DELETE /v1/tokens/:id': { path: '/v1/tokens/abc', expect: [D, B, B, B, B, B] },
  'GET /metrics': { path: '/metrics', expect: [D, F, F, F, F, F] },
  'GET /v1/stats': { path: '/v1/stats', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/apps/:app/metrics': { path: '/v1/apps/shop/metrics', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/metrics/tokens': { path: '/v1/metrics/tokens', body: 'nope', expect: [D, F, F, F, F, F] },
  'GET /v1/metrics/tokens': { path: '/v1/metrics/tokens', expect: [D, F, F, F, F, F] },
  'DELETE /v1/metrics/tokens/:id': { path: '/v1/metrics/tokens/abc', expect: [D, F, F, F, F, F] },
};

test("authorization matrix: every route of the OpenAPI document, as anonymous, another org's owner, viewer, member, admin and owner", async () => {
  const doc = (await api('GET', '/v1/openapi.json')).body as {
    paths: Record<string, Record<string, { 'x-berth-policy': { need: string } }>>;
  };
  const operations = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
  );
  assert.deepEqual(
    operations.filter((o) => !MATRIX[o]),
    [],
    'every route has a matrix entry: add one for a new route',
  );
  assert.deepEqual(
    Object.keys(MATRIX).filter((k) => !operations.includes(k)),
    [],
    'no entry for a route that is gone',
  );
  const wrong: string[] = [];
  for (const [op, entry] of Object.entries(MATRIX)) {
    const method = op.split(' ')[0] as string;
    for (const [i, who] of WHO.entries()) {
      // logout revokes the token it is called with: use a fresh one.
      const token = op === 'POST /v1/logout' && who !== 'anonymous' ? await login(who) : tokens[who];
      const r = await api(method, entry.path, { token, ...(entry.body !== undefined ? { body: entry.body } : {}) });
      if (r.status !== entry.expect[i])
        wrong.push(
          `${op} as ${who}: ${r.status}, expected ${entry.expect[i]} (${JSON.stringify(r.body).slice(0, 160)})`,
        );
    }
  }
  assert.deepEqual(wrong, []);
  assert.equal(
    (await api('GET', '/v1/apps/shop/instances', { token: tokens.outsider })).body.error.message,
    'no app named "shop"',
    "another org's app is indistinguishable from none",
  );
});

test('uploads: paths stay inside the tree; only members of the organisation deploy', async () => {
  const file = (p: string, text = 'x') => ({ path: p, data: Buffer.from(text).toString('base64') });
  const manifest = file('berth.yaml', 'app: upl\nservices:\n  web:\n    run: ["true"]\n');
  const chains = [
    [manifest, { path: 'l', link: '.' }, { path: 'l/l/l/x', link: '../../..' }, file('x/PWNED')], // a file written through links
    [manifest, { path: 'd/L1', link: '..' }, { path: 'L2', link: 'd/L1/..' }], // each link inside as written, the chain outside
    [manifest, { path: 'a', link: 'b' }, { path: 'b', link: '..' }],
    [manifest, file('berth.yaml', 'again')],
    [{ path: 'berth.yaml', link: '/etc/shadow' }],
    [{ ...manifest, link: '../../../../../etc/shadow' }], // a manifest that is also a link: authorized as one, written as the other
    [manifest, { path: 'far', link: '../../../../../etc/shadow' }], // dangling from staging, not once moved
  ];
  for (const bad of [
    [manifest, file('../escape.txt')],
    [manifest, file('/etc/cron.d/x')],
    [manifest, file('a/../../x')],
    [manifest, { path: 'evil', link: '/etc' }],
    [manifest, { path: 'evil', link: '../../..' }],
    [manifest, file('.git/config')],
    ...chains,
  ]) {
    const r = await api('POST', '/v1/uploads/deployments', { token: tokens.member, body: { files: bad, org: 'acme' } });
    assert.equal(r.status, 400, JSON.stringify(bad.map((f) => f.path)) + JSON.stringify(r.body));
  }
  assert.equal(
    (await api('POST', '/v1/uploads/deployments', { token: tokens.viewer, body: { files: [manifest], org: 'acme' } }))
      .status,
    403,
  );
  assert.equal(
    (await api('POST', '/v1/uploads/deployments', { token: tokens.outsider, body: { files: [manifest], org: 'acme' } }))
      .status,
    404,
  );
  assert.equal(existsSync(path.join(home.home, 'uploads', 'upl')), false, 'nothing of a refused upload stays');
  // An app removed without --purge leaves its data: a new app of that name from elsewhere does not get it.
  const kept = home.app(
    'kept',
    `app: kept\nservices:\n  web:\n    run: ["${NODE}", "-e", "require('fs').writeFileSync(process.env.DATA_DIR + '/private', 'x'); require('http').createServer((q, s) => s.end()).listen(process.env.PORT, '127.0.0.1')"]\n`,
  );
  assertOk(await home.cli('deploy', kept, '--org', 'acme'));
  assertOk(await home.cli('rm', 'kept'));
  const taken = await api('POST', '/v1/uploads/deployments', {
    token: tokens.outsider,
    body: { files: [file('berth.yaml', 'app: kept\nservices:\n  web:\n    run: ["true"]\n')], org: 'other' },
  });
  assert.equal(taken.status, 409);
  assert.match(taken.body.error.message, /data of an earlier app named "kept" is kept/);
  assert.ok(existsSync(path.join(home.home, 'data', 'kept', 'production', 'private')), 'and the data is still there');
  assert.equal(
    existsSync(path.join(home.home, 'PWNED')) || existsSync(path.join(home.home, 'uploads', 'PWNED')),
    false,
    'nothing was written through a link',
  );
  const staging = path.join(home.home, 'uploads', '.staging');
  assert.deepEqual(existsSync(staging) ? readdirSync(staging) : [], [], 'no staging left');
});

test('lists are scoped by organisation: no fetch by bare name reaches another organisation', async () => {
  assert.deepEqual((await api('GET', '/v1/apps', { token: tokens.viewer })).body.apps, ['shop']);
  assert.deepEqual((await api('GET', '/v1/apps', { token: tokens.outsider })).body.apps, ['rival']);
  assert.deepEqual(
    ((await api('GET', '/v1/instances', { token: tokens.outsider })).body as Array<{ app: string }>).map((v) => v.app),
    ['rival'],
  );
  assert.equal((await api('GET', '/v1/instances?app=shop', { token: tokens.outsider })).status, 404);
  assert.ok(
    ((await api('GET', '/v1/routes', { token: tokens.outsider })).body as Array<{ app: string }>).every(
      (r) => r.app === 'rival',
    ),
  );
  assert.ok(
    ((await api('GET', '/v1/events', { token: tokens.outsider })).body as Array<{ app: string }>).every(
      (e) => e.app === 'rival',
    ),
  );
  assert.equal((await api('POST', '/v1/deployments', { token: tokens.outsider, body: { app: 'shop' } })).status, 404);
  assert.equal((await api('POST', '/v1/deployments', { token: tokens.viewer, body: { app: 'shop' } })).status, 403);
  assert.equal(
    (await api('POST', '/v1/deployments', { token: tokens.member, body: { dir: '/etc' } })).status,
    403,
    "a directory on the host is not a remote user's to name",
  );
  assert.equal(
    (await api('POST', '/v1/deployments', { token: tokens.member, body: { app: 'shop', dir: '/etc' } })).status,
    403,
  );
  const deployed = await api('POST', '/v1/deployments', { token: tokens.member, body: { app: 'shop' } });
  assert.equal(deployed.status, 200, JSON.stringify(deployed.body));
  assert.ok(['succeeded', 'unchanged'].includes(deployed.body.status));
});

test('no first-run claim over the network: users are made on the host only', async () => {
  assert.equal(
    (
      await api('POST', '/v1/admin/users', {
        body: { name: 'mallory', password: PASSWORD, org: 'acme', role: 'owner' },
      })
    ).status,
    401,
  );
  assert.equal(
    (
      await api('POST', '/v1/admin/users', {
        token: tokens.owner,
        body: { name: 'mallory', password: PASSWORD, org: 'acme', role: 'owner' },
      })
    ).status,
    403,
  );
  assert.equal((await api('POST', '/v1/login', { body: { name: 'mallory', password: PASSWORD } })).status, 401);
});

test('tokens: shown once, stored hashed, scoped to an organisation and a role ceiling that cannot be widened', async () => {
  const otherTokenId = (await api('POST', '/v1/tokens', { token: tokens.owner, body: { name: 'other' } })).body
    .id as number;
  const viewerOnly = await api('POST', '/v1/tokens', {
    token: tokens.owner,
    body: { name: 'ci', role: 'viewer', expires: '1h' },
  });
  assert.equal(viewerOnly.status, 200);
  assert.match(viewerOnly.body.token, /^bertht_[A-Za-z0-9_-]{43}$/);
  const t = viewerOnly.body.token as string;
  assert.equal((await api('GET', '/v1/apps/shop/instances', { token: t })).status, 200);
  assert.equal(
    (await api('POST', '/v1/apps/shop/restart', { token: t, body: {} })).status,
    403,
    "the owner's viewer token cannot act as owner",
  );
  assert.equal(
    (await api('POST', '/v1/tokens', { token: t, body: { name: 'wider', role: 'owner' } })).status,
    403,
    'nor mint a wider token',
  );
  const unscoped = await api('POST', '/v1/tokens', { token: t, body: { name: 'same' } });
  assert.equal(unscoped.body.role, 'viewer', 'a token made with a scoped token keeps its ceiling');
  assert.ok(
    unscoped.body.expiresAt <= viewerOnly.body.expiresAt,
    'and never outlives it (asked: 90 days; parent: 1 hour)',
  );
  assert.equal(
    (await api('GET', '/v1/tokens', { token: t })).status,
    403,
    "a scoped token cannot list the user's tokens",
  );
  assert.equal((await api('DELETE', `/v1/tokens/${otherTokenId}`, { token: t })).status, 403, 'nor revoke them');
  const otherOrg = await api('POST', '/v1/tokens', { token: tokens.outsider, body: { name: 'o', org: 'other' } });
  assert.equal(
    (await api('POST', '/v1/tokens', { token: tokens.outsider, body: { name: 'x', org: 'acme' } })).status,
    404,
    'no token for an organisation one is not in',
  );
  assert.equal((await api('GET', '/v1/apps/shop/instances', { token: otherOrg.body.token })).status, 404);
  // Stored hashed: the store has no token in clear.
  const db = path.join(home.home, 'berth.db');
  const { execFileSync } = await import('node:child_process');
  const dump = execFileSync(
    'python3',
    [
      '-c',
      `import sqlite3; print(sqlite3.connect(${JSON.stringify(db)}).execute("select group_concat(secret_hash) from tokens").fetchone()[0])`,
    ],
    { encoding: 'utf8' },
  );
  assert.ok(!dump.includes(t) && !dump.includes(t.slice(7)), 'no secret in the store');
  assert.ok(dump.length > 64);
  // Revoked and expired tokens are refused.
  assert.equal((await api('DELETE', `/v1/tokens/${viewerOnly.body.id}`, { token: tokens.owner })).status, 200);
  assert.equal((await api('GET', '/v1/me', { token: t })).status, 401);
  const short = await api('POST', '/v1/tokens', { token: tokens.owner, body: { name: 'short', expires: '1s' } });
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal((await api('GET', '/v1/me', { token: short.body.token })).status, 401);
  assert.equal((await api('GET', '/v1/me', { token: 'bertht_forged' })).status, 401);
});

test("invites: single use, expiring, never above the inviter's role", async () => {
  assert.equal(
    (await api('POST', '/v1/orgs/acme/invites', { token: tokens.admin, body: { role: 'owner' } })).status,
    403,
    'an admin cannot invite an owner',
  );
  assert.equal(
    (await api('POST', '/v1/orgs/acme/invites', { token: tokens.member, body: { role: 'viewer' } })).status,
    403,
    'a member cannot invite',
  );
  assert.equal(
    (await api('PUT', '/v1/orgs/acme/members/member', { token: tokens.admin, body: { role: 'owner' } })).status,
    403,
    'an admin cannot promote to owner',
  );
  assert.equal(
    (await api('PUT', '/v1/orgs/acme/members/owner', { token: tokens.admin, body: { role: 'viewer' } })).status,
    403,
    'an admin cannot demote an owner',
  );
  const inv = await api('POST', '/v1/orgs/acme/invites', {
    token: tokens.admin,
    body: { role: 'admin', expires: '1h' },
  });
  assert.equal(inv.status, 200);
  // Two people race for one invite: exactly one gets in.
  const [a, b] = await Promise.all([
    api('POST', '/v1/invites/accept', { body: { invite: inv.body.invite, name: 'newcomer1', password: PASSWORD } }),
    api('POST', '/v1/invites/accept', { body: { invite: inv.body.invite, name: 'newcomer2', password: PASSWORD } }),
  ]);
  assert.deepEqual([a.status, b.status].sort(), [200, 404]);
  const winner = a.status === 200 ? a.body : b.body;
  assert.equal(winner.role, 'admin');
  assert.equal(
    (await api('POST', '/v1/invites/accept', { token: tokens.outsider, body: { invite: inv.body.invite } })).status,
    404,
    'used is used',
  );
  assert.equal(
    (
      await api('POST', '/v1/login', {
        body: { name: a.status === 200 ? 'newcomer2' : 'newcomer1', password: PASSWORD },
      })
    ).status,
    401,
    'the loser got no account',
  );
  const soon = await api('POST', '/v1/orgs/acme/invites', {
    token: tokens.owner,
    body: { role: 'viewer', expires: '1s' },
  });
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(
    (await api('POST', '/v1/invites/accept', { token: tokens.outsider, body: { invite: soon.body.invite } })).status,
    404,
    'expired',
  );
  assert.equal((await api('POST', '/v1/invites/accept', { body: { invite: 'berthi_guess' } })).status, 404);
  const members = (await api('GET', '/v1/orgs/acme/members', { token: tokens.viewer })).body as Array<{
    user: string;
    role: string;
  }>;
  assert.ok(!members.some((m) => m.user === 'outsider'));
});

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
  const signedIn = await run(['login', BASE, '--user', 'member', '--password-stdin'], PASSWORD + '\n');
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
  assertOk(await run(['login', BASE, '--user', 'admin', '--password-stdin'], PASSWORD + '\n'));
  const set = await run(['secrets', 'set', 'fresh', 'REGISTRY_PASSWORD', '--org', 'acme'], VALUE);
  assertOk(set);
  assert.match(set.stdout, /fresh: registered \(never deployed\); secret REGISTRY_PASSWORD set/);
  assert.deepEqual(
    (await api('GET', '/v1/apps/fresh/secrets', { token: tokens.member })).body.map((x: { name: string }) => x.name),
    ['REGISTRY_PASSWORD'],
  );
  assert.equal((await api('GET', '/v1/apps/fresh/secrets', { token: tokens.outsider })).status, 404);
  assertOk(await run(['login', BASE, '--user', 'member', '--password-stdin'], PASSWORD + '\n'));
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
