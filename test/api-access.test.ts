import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { apiWorld, PASSWORD } from './helpers/api-world.js';
import { assertOk, NODE } from './helpers/home.js';

/**
 * The API over TCP: uploads that stay inside their tree, lists scoped by organisation, no first-run
 * claim over the network, tokens and invites that never widen a role.
 */
const API = 18365;
const { home, tokens, api } = apiWorld('30900-30999', API);

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
