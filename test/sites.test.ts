import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/api/client.js';
import type { RouteView } from '../src/api/routes-view.js';
import { findUser } from '../src/system/users.js';
import { hit } from './helpers/http.js';
import { assertOk, NODE, TestHome, waitFor } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

/**
 * Seed 002's flow as one transaction: POST /v1/orgs/{org}/sites { slug, template } claims the
 * slug, copies the template, deploys it on <slug>.sites.test as the org's app, and marks it
 * active. Failures, at any point, leave nothing; concurrent creations get one winner per slug.
 * As root, each site also gets its own system user, which must go with it.
 */
const ROOT = process.getuid?.() === 0;
const home = new TestHome('25600-25699');
const P = home.httpPort;
const API = 18356;
const templates = path.join(home.root, 'templates');
Object.assign(home.env, {
  BERTH_API_LISTEN: `127.0.0.1:${API}`,
  BERTH_TEMPLATES_DIR: templates,
  BERTH_SITES_DOMAIN: 'sites.test',
  BERTH_FAIL_SITE_AT: 'activate:doomed',
  BERTH_APP_USERS: ROOT ? '1' : '0',
});
const PASSWORD = 'correct horse battery staple';
let token = '';

async function create(slug: string, template = 'hello'): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${API}/v1/orgs/acme/sites`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ slug, template }),
  });
  return { status: res.status, body: await res.json() };
}

/** Nothing of `slug` anywhere: row, app, instance, lease, route, files, process, user. */
async function assertGone(slug: string): Promise<void> {
  const sites = (
    await new ApiClient(path.join(home.home, 'berthd.sock')).call<Array<{ slug: string }>>('GET', '/v1/orgs/acme/sites')
  ).map((s) => s.slug);
  assert.ok(!sites.includes(slug), `${slug}: no site row`);
  const ps = await home.json<InstanceStatus[]>('ps');
  assert.ok(!ps.some((v) => v.app === slug), `${slug}: no instance, no lease`);
  assert.ok(
    !(await home.json<RouteView[]>('routes')).some((r) => r.host === `${slug}.sites.test`),
    `${slug}: no route`,
  );
  assert.equal((await hit(P, `${slug}.sites.test`, '/')).status, 404);
  for (const dir of ['sites', 'releases', 'logs', 'data'])
    assert.ok(!existsSync(path.join(home.home, dir, slug)), `${slug}: no ${dir} dir`);
  assert.equal(findUser(`berth-${slug}`), undefined, `${slug}: no system user`);
}

before(async () => {
  if (ROOT) chmodSync(home.root, 0o711);
  for (const [name, run] of [
    ['hello', `require('http').createServer((q, s) => s.end(process.env.SLUG)).listen(process.env.PORT, '127.0.0.1')`],
    ['broken', `console.error('the template is broken'); process.exit(1)`],
    [
      'slow',
      `setTimeout(() => require('http').createServer((q, s) => s.end(process.env.SLUG)).listen(process.env.PORT, '127.0.0.1'), 1500)`,
    ],
  ] as const) {
    mkdirSync(path.join(templates, name), { recursive: true });
    writeFileSync(path.join(templates, name, 'server.js'), run + '\n');
    writeFileSync(
      path.join(templates, name, 'berth.yaml'),
      `app: "{{slug}}"\nservices:\n  web:\n    run: ["${NODE}", "server.js"]\n    env: { SLUG: "{{slug}}" }\n    health: { start_timeout: 60s }\n    routes: ["{{host}}"]\n`,
    );
  }
  assertOk(await home.cli('daemon', 'start'));
  const s = new ApiClient(path.join(home.home, 'berthd.sock'));
  await s.call('POST', '/v1/orgs', { name: 'acme' });
  await s.call('POST', '/v1/admin/users', { name: 'builder', password: PASSWORD, org: 'acme', role: 'member' });
  token = (
    (await (
      await fetch(`http://127.0.0.1:${API}/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'builder', password: PASSWORD }),
      })
    ).json()) as { token: string }
  ).token;
});
after(async () => {
  await home.cleanup();
  if (ROOT)
    for (const u of readdirSync('/etc').length
      ? (await import('node:fs'))
          .readFileSync('/etc/passwd', 'utf8')
          .split('\n')
          .map((l) => l.split(':')[0] ?? '')
          .filter((n) => /^berth-(alpha|doomed|broken1|site-\d+)$/.test(n))
      : [])
      await import('../src/system/users.js').then((m) => m.deleteSystemUser(u));
});

test('a site from a template: slug rules, one app on <slug>.<domain> in the org, listed', async () => {
  const r = await create('alpha');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, {
    slug: 'alpha',
    org: 'acme',
    template: 'hello',
    host: 'alpha.sites.test',
    release: 1,
    status: 'active',
  });
  assert.equal((await hit(P, 'alpha.sites.test', '/')).text(), 'alpha');
  if (ROOT) assert.ok(findUser('berth-alpha'), 'its own system user');
  assert.equal((await create('alpha')).status, 409);
  for (const [slug, template, status] of [
    ['www', 'hello', 400],
    ['../x', 'hello', 400],
    ['a;touch x', 'hello', 400],
    ['ok-slug', '../../etc', 400],
    ['ok-slug', 'nope', 404],
    ['Alpha', 'hello', 400],
  ] as const) {
    const bad = await create(slug, template);
    assert.equal(bad.status, status, `${slug} ${template}: ${JSON.stringify(bad.body)}`);
  }
  const sites = (await (
    await fetch(`http://127.0.0.1:${API}/v1/orgs/acme/sites`, { headers: { authorization: `Bearer ${token}` } })
  ).json()) as Array<{ slug: string; status: string; createdBy: string }>;
  assert.deepEqual(
    sites.map((s) => [s.slug, s.status, s.createdBy]),
    [['alpha', 'active', 'user:builder']],
  );
});

test('a failing template, and a failure after the last infrastructure step, leave nothing behind', async () => {
  const broken = await create('broken1', 'broken');
  assert.equal(broken.status, 500);
  assert.match(broken.body.error.message, /the template is broken/);
  await assertGone('broken1');
  const doomed = await create('doomed'); // deployed fine, then the last step fails (BERTH_FAIL_SITE_AT)
  assert.equal(doomed.status, 500);
  assert.match(doomed.body.error.message, /after the last infrastructure step/);
  await assertGone('doomed');
});

test('50 concurrent creations, two per slug: one winner each, no port shared, no orphans', async () => {
  const slugs = Array.from({ length: 25 }, (_, i) => `site-${String(i).padStart(2, '0')}`);
  const results = await Promise.all([...slugs, ...slugs].map(async (slug) => ({ slug, ...(await create(slug)) })));
  for (const slug of slugs) {
    const mine = results
      .filter((r) => r.slug === slug)
      .map((r) => r.status)
      .sort();
    assert.deepEqual(
      mine,
      [200, 409],
      `${slug}: ${JSON.stringify(results.filter((r) => r.slug === slug).map((r) => r.body))}`,
    );
  }
  const ps = (await home.json<InstanceStatus[]>('ps')).filter((v) => v.app.startsWith('site-'));
  assert.equal(ps.length, 25);
  assert.equal(new Set(ps.map((v) => v.port)).size, 25, 'no two sites share a port');
  assert.ok(ps.every((v) => v.state === 'healthy'));
  for (const slug of slugs) assert.equal((await hit(P, `${slug}.sites.test`, '/')).text(), slug);
  assert.deepEqual(
    readdirSync(path.join(home.home, 'sites'))
      .filter((d) => d.startsWith('site-'))
      .sort(),
    slugs,
    'one directory per winner',
  );
});

test('berthd killed while a site is being made: at its next start the half-made site is removed', async () => {
  const pending = create('crashy', 'slow').catch(() => undefined); // its app takes 1.5 s to listen
  const s = new ApiClient(path.join(home.home, 'berthd.sock'));
  await waitFor(
    'the site being made',
    async () =>
      (await s.call<Array<{ slug: string; status: string }>>('GET', '/v1/orgs/acme/sites')).some(
        (x) => x.slug === 'crashy' && x.status === 'creating',
      ),
    10_000,
    5,
  );
  await waitFor(
    'its instance started',
    async () => (await home.json<InstanceStatus[]>('ps')).some((v) => v.app === 'crashy'),
    10_000,
    20,
  );
  process.kill(home.daemonPid() as number, 'SIGKILL');
  await pending;
  assertOk(await home.cli('daemon', 'start'));
  await assertGone('crashy');
  assert.equal((await hit(P, 'alpha.sites.test', '/')).text(), 'alpha', 'the others serve on');
  // Removing a site takes everything with it.
  const del = await fetch(`http://127.0.0.1:${API}/v1/orgs/acme/sites/alpha`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(del.status, 403, 'members create; admins remove');
  await s.call('DELETE', '/v1/orgs/acme/sites/alpha');
  await assertGone('alpha');
});
