import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/api/client.js';
import { DAEMON_NODE_FLAGS } from '../src/cli/daemon-control.js';
import { assertOk, NODE, REPO, TestHome } from './helpers/home.js';

/**
 * What berthd reads of an upload, and for whom: rights checked from what is cheap before the
 * body is read, manifests bounded (size, services: a host setting) and parsed off the event
 * loop, paths and data refused with clear 400s that name no host path. Real berthd over TCP.
 */
const home = new TestHome('28300-28399');
const API = 18383;
const BASE = `http://127.0.0.1:${API}`;
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const PASSWORD = 'correct horse battery staple';
const MAX_SERVICES = 5;
/** Where berthd notes each big JSON.parse or base64 decode on its main thread (test/fixtures/main-thread-spy.mjs). */
const SPY_FILE = path.join(home.root, 'main-thread.log');
const SPY = path.join(REPO, 'test', 'fixtures', 'main-thread-spy.mjs');
Object.assign(home.env, {
  BERTH_API_LISTEN: `127.0.0.1:${API}`,
  BERTH_DAEMON_NODE_FLAGS: `${DAEMON_NODE_FLAGS} --import=${SPY}`,
  BERTH_SPY_FILE: SPY_FILE,
});
const mainThreadWork = () => (existsSync(SPY_FILE) ? readFileSync(SPY_FILE, 'utf8') : '');
const tokens: Record<'loner' | 'viewer' | 'member', string> = { loner: '', viewer: '', member: '' };

/** The fields these tests read of an answer. */
interface Answer {
  readonly error: { readonly code: string; readonly message: string };
  readonly releases: ReadonlyArray<{ readonly dir?: string; readonly source: { readonly digest?: unknown } }>;
}

async function api(
  method: string,
  route: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: Answer; text: string }> {
  const res = await fetch(BASE + route, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Answer, text };
}

const file = (p: string, text: string) => ({ path: p, data: Buffer.from(text).toString('base64') });
const upload = (token: string, files: unknown[], extra: Record<string, unknown> = {}) =>
  api('POST', '/v1/uploads/deployments', token, { files, org: 'acme', ...extra });
const services = (n: number, each = '') =>
  Array.from({ length: n }, (_, i) => `  s${i}:\n    run: ["true"]\n    port: none\n${each}`).join('');
/** Valid as YAML and by the schema; refused only by the last check, once the whole of it was read. */
const unknownDependency = '    depends_on: [nowhere]\n';

before(async () => {
  mkdirSync(home.home, { recursive: true });
  writeFileSync(path.join(home.home, 'config.yaml'), `max_services: ${MAX_SERVICES}\n`);
  assertOk(await home.cli('daemon', 'start'));
  const s = new ApiClient(path.join(home.home, 'berthd.sock'));
  await s.call('POST', '/v1/orgs', { name: 'acme' });
  await s.call('POST', '/v1/admin/users', { name: 'loner', password: PASSWORD });
  await s.call('POST', '/v1/admin/users', { name: 'viewer', password: PASSWORD, org: 'acme', role: 'viewer' });
  await s.call('POST', '/v1/admin/users', { name: 'member', password: PASSWORD, org: 'acme', role: 'member' });
  for (const who of ['loner', 'viewer', 'member'] as const) {
    const r = await fetch(`${BASE}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: who, password: PASSWORD }),
    });
    tokens[who] = ((await r.json()) as { token: string }).token;
  }
});
after(() => home.cleanup());

test('someone who may deploy nowhere is refused before the body is read, let alone its manifest parsed', async () => {
  // 20,000 services (~400 KB) that end in a YAML syntax error: parsing it would answer "YAML syntax".
  const huge = `app: huge\nservices:\n${Array.from({ length: 20_000 }, (_, i) => `  s${i}: { run: x }\n`).join('')}  bad: [\n`;
  for (const who of ['loner', 'viewer'] as const) {
    const r = await upload(tokens[who], [file('berth.yaml', huge)]);
    assert.equal(r.status, 403, `${who}: ${r.text.slice(0, 300)}`);
    assert.match(r.body.error.message, /member role in an organisation, and this credential has it in none/);
    const notJson = await api('POST', '/v1/uploads/deployments', tokens[who], '{ this is not JSON');
    assert.equal(notJson.status, 403, `the body was not even read: ${notJson.text}`);
  }
  const member = await upload(tokens.member, [
    file('berth.yaml', `app: huge\nservices:\n  s0: { run: x }\n  bad: [\n`),
  ]);
  assert.equal(member.status, 400, 'a member gets such a manifest read');
  assert.match(member.body.error.message, /YAML syntax/);
});

test('a manifest is bounded: 1 MiB, and the services the host allows (max_services)', async () => {
  const tooBig = `app: big\nservices:\n${services(1, unknownDependency)}# ${'x'.repeat(1024 * 1024)}\n`;
  const big = await upload(tokens.member, [file('berth.yaml', tooBig)]);
  assert.equal(big.status, 400);
  assert.equal(big.body.error.code, 'manifest_too_large', big.text.slice(0, 300));
  const tooMany = await upload(tokens.member, [
    file('berth.yaml', `app: many\nservices:\n${services(MAX_SERVICES + 1, unknownDependency)}`),
  ]);
  assert.equal(tooMany.status, 400);
  assert.match(tooMany.body.error.message, /services: 6 services, more than the 5 this host allows in one app/);
  const enough = await upload(tokens.member, [
    file('berth.yaml', `app: many\nservices:\n${services(MAX_SERVICES, unknownDependency)}`),
  ]);
  assert.equal(enough.status, 400);
  assert.match(enough.body.error.message, /unknown service "nowhere"/, 'up to the limit: read whole');
});

test("other callers' requests are answered while a big manifest is parsed", async () => {
  // Half a MiB: few services, each with many variables; refused by its last line, so read whole.
  const vars = Array.from({ length: 3000 }, (_, i) => `      V${i}: "${'v'.repeat(30)}"\n`).join('');
  const text = `app: heavy\nservices:\n${services(MAX_SERVICES - 1, `    env:\n${vars}`)}${services(1, unknownDependency).replace('s0', 'last')}`;
  assert.ok(text.length > 500 * 1024, String(text.length));
  let settled = false;
  const big = upload(tokens.member, [file('berth.yaml', text)]).finally(() => (settled = true));
  const pending = () => !settled;
  let answeredMeanwhile = 0;
  while (pending()) {
    const me = await api('GET', '/v1/me', tokens.viewer);
    assert.equal(me.status, 200);
    if (pending()) answeredMeanwhile++;
  }
  const r = await big;
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /unknown service "nowhere"/, 'the whole manifest was read');
  // Blocking the event loop for the parse answers at most the few that came before it began.
  assert.ok(answeredMeanwhile >= 5, `only ${answeredMeanwhile} requests were answered during the upload`);
});

test("a big upload's body is read off the event loop: its JSON, its base64 and its manifest, in the manifest thread", async () => {
  // 1 MiB: the biggest berth.yaml there may be, with a file beside it; refused by its last line, so read whole.
  const vars = Array.from({ length: 5500 }, (_, i) => `      V${i}: "${'v'.repeat(30)}"\n`).join('');
  const text = `app: heavy\nservices:\n${services(MAX_SERVICES - 1, `    env:\n${vars}`)}${services(1, unknownDependency).replace('s0', 'last')}`;
  assert.ok(text.length > 960 * 1024 && text.length <= 1024 * 1024, String(text.length));
  const before = mainThreadWork();
  const r = await upload(tokens.member, [file('berth.yaml', text), file('data.bin', 'x'.repeat(512 * 1024))]);
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /unknown service "nowhere"/, 'the whole manifest was read');
  const ok = await upload(tokens.member, [
    file('berth.yaml', 'app: fine\nservices:\n  web:\n    run: ["sleep", "60"]\n    port: none\n'),
    file('data.bin', 'x'.repeat(512 * 1024)),
  ]);
  assert.equal(ok.status, 200, ok.text.slice(0, 300));
  assert.ok(existsSync(path.join(home.home, 'uploads', 'fine', 'data.bin')), 'the decoded tree was written');
  assert.equal(readFileSync(path.join(home.home, 'uploads', 'fine', 'data.bin'), 'utf8'), 'x'.repeat(512 * 1024));
  assertOk(await home.cli('rm', 'fine'));
  assert.equal(mainThreadWork().slice(before.length), '', "berthd's event loop parsed or decoded the upload itself");
});

test('upload paths and data: clear 400s that name no host path', async () => {
  const manifest = file('berth.yaml', 'app: paths\nservices:\n  web:\n    run: ["true"]\n    port: none\n');
  const cases: Array<[string, unknown[], Record<string, unknown>, RegExp]> = [
    ['2,000 levels', [manifest, file('a/'.repeat(1999) + 'f', 'x')], {}, /is 2000 levels deep; at most 64/],
    [
      'a file, then a directory of that name',
      [manifest, file('x', '1'), file('x/y', '2')],
      {},
      /both a file and a directory/,
    ],
    [
      'a directory, then a file of that name',
      [manifest, file('x/y', '1'), file('x', '2')],
      {},
      /both a file and a directory/,
    ],
    ['a name over 255 bytes', [manifest, file('n'.repeat(300), 'x')], {}, /is too long/],
    ['data that is not base64', [manifest, { path: 'f', data: 'not base64!' }], {}, /f": data is not base64/],
    ['a manifest that is not base64', [{ path: 'berth.yaml', data: 'YXBw%%%=' }], {}, /data is not base64/],
    ['an unknown body field', [manifest], { bogus: true }, /must NOT have additional properties/],
    ['an unknown field of a file', [{ ...manifest, mode: 0o4755 }], {}, /must NOT have additional properties/],
  ];
  for (const [what, files, extra, message] of cases) {
    const r = await upload(tokens.member, files, extra);
    assert.equal(r.status, 400, `${what}: ${r.text.slice(0, 300)}`);
    assert.match(r.body.error.message, message, what);
    assert.ok(!r.text.includes(home.root), `${what}: no host path in ${r.text.slice(0, 300)}`);
  }
  const deploy = await api('POST', '/v1/deployments', tokens.member, { app: 'paths', bogus: 1 });
  assert.equal(deploy.status, 400, 'every route: unknown fields are refused, not dropped');
});

test('GET /v1/apps/:app/releases shows remote callers no host paths; root on the host sees them', async () => {
  const dir = home.app('shop', `app: shop\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n`);
  assertOk(await home.cli('deploy', dir, '--org', 'acme'));
  const remote = await api('GET', '/v1/apps/shop/releases', tokens.viewer);
  assert.equal(remote.status, 200);
  const [first, ...more] = remote.body.releases;
  assert.ok(first && more.length === 0);
  assert.ok(!remote.text.includes(home.root), remote.text);
  assert.equal(first.dir, undefined);
  assert.equal(typeof first.source.digest, 'string', 'what it came from, by digest');
  const local = await new ApiClient(path.join(home.home, 'berthd.sock')).call<{
    releases: Array<{ dir: string; source: { dir: string } }>;
  }>('GET', '/v1/apps/shop/releases');
  const [mine] = local.releases;
  assert.ok(mine);
  assert.equal(mine.source.dir, dir);
  assert.ok(mine.dir.startsWith(home.home));
  const shown = await home.cli('releases', 'shop');
  assert.match(shown.stdout, new RegExp(dir.replace(/[/.]/g, '\\$&')));
});
