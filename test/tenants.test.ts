import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/api/client.js';
import { assertOk, NODE, REPO, TestHome } from './helpers/home.js';

/**
 * Two organisations on one host, over TCP: what one tenant's errors may say about the other
 * and about the host, and what an invite grants when it is accepted.
 */
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('31300-31399');
const API = 18371;
const PINNED = 26690; // leased to acme's app
const SQUATTED = 26691; // held by a process of the host (this test)
Object.assign(home.env, { BERTH_API_LISTEN: `127.0.0.1:${API}` });
const socket = () => new ApiClient(path.join(home.home, 'berthd.sock'));
const PASSWORD = 'correct horse battery staple';

interface Answer {
  readonly error: { readonly message: string };
  readonly role?: string;
  readonly invite?: string;
  readonly token?: string;
}

async function api(method: string, route: string, token?: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${API}${route}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Answer };
}

const login = async (name: string) =>
  (await api('POST', '/v1/login', undefined, { name, password: PASSWORD })).body.token ?? '';
const manifest = (app: string, extra: string) =>
  `app: ${app}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n${extra}`;
const upload = (token: string, app: string, extra: string) =>
  api('POST', '/v1/uploads/deployments', token, {
    files: [{ path: 'berth.yaml', data: Buffer.from(manifest(app, extra)).toString('base64') }],
    org: 'other',
  });

let squatter: Server;
let outsider = '';

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  const s = socket();
  for (const org of ['acme', 'other']) await s.call('POST', '/v1/orgs', { name: org });
  await s.call('POST', '/v1/admin/users', { name: 'outsider', password: PASSWORD, org: 'other', role: 'owner' });
  assertOk(
    await home.cli(
      'deploy',
      home.app('shop', manifest('shop', `    port: ${PINNED}\n    routes: [shop.test]\n`)),
      '--org',
      'acme',
    ),
  );
  squatter = createServer().listen(SQUATTED, '127.0.0.1');
  outsider = await login('outsider');
});
after(async () => {
  squatter.close();
  await home.cleanup();
});

test("a remote caller's conflicts say 'outside your organisation'; root on the host gets who holds it", async () => {
  const cases = [
    { app: 'r1', extra: '    routes: [shop.test]\n', named: /already claimed by shop\/production\/web/ },
    { app: 'r2', extra: `    port: ${PINNED}\n`, named: /Berth already leased it to shop\/production\/web/ },
    {
      app: 'r3',
      extra: `    port: ${SQUATTED}\n`,
      named: new RegExp(`held by pid ${process.pid} .*${process.execPath}`),
    },
  ];
  for (const c of cases) {
    const r = await upload(outsider, c.app, c.extra);
    assert.equal(r.status, 409, JSON.stringify(r.body));
    const text = JSON.stringify(r.body);
    assert.match(r.body.error.message, /in use by something outside your organisation/);
    for (const leak of ['shop/', 'acme', `pid ${process.pid}`, process.execPath])
      assert.ok(!text.includes(leak), `${c.app}: ${leak} in ${text}`);
    // The host admin deploying the same thing is told who.
    const root = await home.cli('deploy', home.app(`h${c.app}`, manifest(`h${c.app}`, c.extra)), '--org', 'other');
    assert.equal(root.code, 1);
    assert.match(root.stderr, c.named);
  }
});

test("an invite grants at most the inviter's role when it is accepted", async () => {
  const s = socket();
  for (const name of ['boss', 'keeper'])
    await s.call('POST', '/v1/admin/users', { name, password: PASSWORD, org: 'acme', role: 'owner' });
  const boss = await login('boss');
  const made = await api('POST', '/v1/orgs/acme/invites', boss, { role: 'owner' });
  assert.equal(made.status, 200, JSON.stringify(made.body));
  const later = await api('POST', '/v1/orgs/acme/invites', boss, { role: 'admin' });
  // The inviter is demoted to viewer before anyone accepts.
  await s.call('PUT', '/v1/orgs/acme/members/boss', { role: 'viewer' });
  const joined = await api('POST', '/v1/invites/accept', undefined, {
    invite: made.body.invite,
    name: 'joiner',
    password: PASSWORD,
  });
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
  assert.equal(joined.body.role, 'viewer', 'not the owner it said when it was made');
  const members = await s.call<Array<{ user: string; role: string }>>('GET', '/v1/orgs/acme/members');
  assert.equal(members.find((m) => m.user === 'joiner')?.role, 'viewer');
  // Removed from the organisation: their invites grant nothing.
  await s.call('DELETE', '/v1/orgs/acme/members/boss');
  const refused = await api('POST', '/v1/invites/accept', undefined, {
    invite: later.body.invite,
    name: 'joiner2',
    password: PASSWORD,
  });
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  assert.match(refused.body.error.message, /no longer a member of acme/);
  assert.equal((await api('POST', '/v1/login', undefined, { name: 'joiner2', password: PASSWORD })).status, 401);
  // One made by root on the host keeps its role.
  const fromHost = await s.call<{ invite: string }>('POST', '/v1/orgs/acme/invites', { role: 'owner' });
  const owner = await api('POST', '/v1/invites/accept', undefined, {
    invite: fromHost.invite,
    name: 'joiner3',
    password: PASSWORD,
  });
  assert.equal(owner.body.role, 'owner');
});
