import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import {
  BASE,
  close,
  git,
  launch,
  newContext,
  PASSWORD,
  pidOf,
  root,
  shot,
  signIn,
  useDashboard,
} from './helpers/dashboard.js';
import { registerViewTests } from './dashboard-views.js';

/**
 * The dashboard in a real Chromium (Debian's, driven by playwright-core) against a real
 * berthd over TCP: sign in with a session, see apps, instances and routes as the API has
 * them, restart an app, and nothing of another organisation. The pages of an app (deploy,
 * rollback, logs, environments, secrets) are in test/dashboard-views.ts, on the same berthd.
 */
const API_PORT = 18359;
const home = useDashboard(new TestHome('25900-25999'), API_PORT);
home.env.BERTH_METRICS_SAMPLE_MS = '500'; // the metrics view's points, twice a second
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
/**
 * shop's own server: it logs every request, for the log tail. A release with a file SLOW listens only after that
 * many ms, so its deploy's wave is seen running however loaded the machine is.
 */
const SHOP_SERVER = `import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
const server = createServer((req, res) => {
  console.log('hit ' + req.url);
  res.end('ok');
});
setTimeout(
  () => server.listen(Number(process.env.PORT), '127.0.0.1'),
  existsSync('SLOW') ? Number(readFileSync('SLOW', 'utf8')) : 0,
);
`;

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  const s = root();
  await s.call('POST', '/v1/orgs', { name: 'acme' });
  await s.call('POST', '/v1/orgs', { name: 'other' });
  for (const [name, role] of [
    ['mia', 'member'],
    ['vic', 'viewer'],
    ['ada', 'admin'],
  ])
    await s.call('POST', '/v1/admin/users', { name, password: PASSWORD, org: 'acme', role });
  // shop: a git repository, production on main and a preview per feature/* branch.
  const shop = home.app(
    'shop',
    `app: shop\nservices:\n  web:\n    run: ["${NODE}", "server.mjs"]\n    routes: [shop.test]\n` +
      'environments:\n  production: { branch: main }\n  preview:\n    branch: "feature/*"\n' +
      '    hostname: "{branch}.preview.shop.test"\n    expire: 7d\n',
    { 'server.mjs': SHOP_SERVER },
  );
  git(shop, 'init', '-q', '-b', 'main');
  git(shop, 'add', '-A');
  git(shop, 'commit', '-q', '-m', 'shop');
  assertOk(await home.cli('deploy', shop, '--org', 'acme'));
  // An app without routes, in two environments.
  const jobs = home.app('jobs', `app: jobs\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n`);
  assertOk(await home.cli('deploy', jobs, '--org', 'acme'));
  assertOk(await home.cli('deploy', jobs, '--env', 'staging'));
  const secretive = home.app(
    'secretive',
    `app: secretive\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [secretive.test]\n`,
  );
  assertOk(await home.cli('deploy', secretive, '--org', 'other'));
  await launch();
});
after(async () => {
  await close();
  await home.cleanup();
});

test('sign in, see the app healthy with its route, restart it, sign out', async () => {
  const context = await newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (m) => m.type() === 'error' && !/Failed to load resource/.test(m.text()) && errors.push(m.text()));
  try {
    await signIn(page, 'mia', 'wrong password');
    await page.locator('#message', { hasText: 'wrong user name or password' }).waitFor();
    await signIn(page, 'mia');
    const shop = page.locator('section.app[data-app=shop]');
    await shop.locator('td.state-healthy').first().waitFor();
    assert.match((await page.locator('#who').textContent()) ?? '', /mia \(acme: member\)/);
    assert.equal(await page.locator('form#login').isHidden(), true, 'signed in: no sign-in form');
    assert.equal(await shop.locator('table.routes td.healthy-yes').count(), 1);
    assert.match((await shop.locator('table.routes').textContent()) ?? '', /shop\.test\//);
    await shot(page, 'overview');
    assert.equal(
      await page.locator('section.app[data-app=secretive]').count(),
      0,
      "another organisation's app is not shown",
    );

    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'berth_session');
    assert.ok(session?.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
    assert.equal(await page.evaluate('document.cookie'), '', 'the page script cannot read the session');

    const jobs = page.locator('section.app[data-app=jobs]');
    assert.equal(await jobs.locator('button[data-action=restart]').count(), 2, 'one restart per environment');
    const production = await pidOf('jobs');
    const staging = await pidOf('jobs', 'staging');
    await jobs.locator('button[data-action=restart][data-env=staging]').click();
    await waitFor(
      'a new process for jobs in staging',
      async () => (await pidOf('jobs', 'staging')) !== staging,
      15_000,
      100,
    );
    assert.equal(await pidOf('jobs'), production, 'production untouched');
    await page.locator('#events', { hasText: /restart/i }).waitFor({ timeout: 10_000 });
    await shop.locator('td.state-healthy').first().waitFor();
    assert.equal(await page.locator('#message').isHidden(), true, (await page.locator('#message').textContent()) ?? '');

    // Another tab of the same browser: it has the session's CSRF token too and can make changes.
    const second = await context.newPage();
    await second.goto(BASE + '/');
    await second.locator('section.app[data-app=jobs] td.state-healthy').first().waitFor();
    await second.locator('section.app[data-app=jobs] button[data-env=production]').click();
    await waitFor(
      'a new process for jobs in production',
      async () => (await pidOf('jobs')) !== production,
      15_000,
      100,
    );
    assert.equal(
      await second.locator('#message').isHidden(),
      true,
      (await second.locator('#message').textContent()) ?? '',
    );
    await second.close();

    await page.click('#logout');
    await page.locator('form#login').waitFor();
    await page.reload();
    await page.locator('form#login').waitFor();
    // The browser still sends the cookie of the session that ended: signing in again works and replaces it.
    await context.addCookies([{ ...session, value: session.value }]);
    await signIn(page, 'mia');
    await page.locator('section.app[data-app=shop] td.state-healthy').first().waitFor();
    assert.notEqual((await context.cookies()).find((c) => c.name === 'berth_session')?.value, session.value);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a viewer sees the board without restart buttons, and the API refuses a restart anyway; no script or frame from elsewhere is allowed', async () => {
  const context = await newContext();
  const page = await context.newPage();
  try {
    await signIn(page, 'vic');
    const shop = page.locator('section.app[data-app=shop]');
    await shop.locator('td.state-healthy').first().waitFor();
    assert.equal(await page.locator('button[data-action=restart]').count(), 0, 'a viewer gets no restart buttons');
    const pidBefore = await pidOf('shop');
    const refused = await page.evaluate(async () => {
      const storage = (globalThis as unknown as { localStorage: { getItem(key: string): string | null } }).localStorage;
      const csrf = storage.getItem('berth.csrf') ?? '';
      const res = await fetch('/v1/apps/shop/restart', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: '{}',
      });
      return { status: res.status, body: (await res.json()) as { error: { message: string } } };
    });
    assert.equal(refused.status, 403);
    assert.match(refused.body.error.message, /member/);
    assert.equal(await pidOf('shop'), pidBefore, 'nothing restarted');
    const res = await fetch(BASE + '/ui/');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal((await fetch(BASE + '/ui/..%2f..%2fpackage.json')).status, 404);
    assert.equal((await fetch(BASE + '/ui/berthd.sock')).status, 404);
    // A change without the CSRF token (another site's form, or a script without it) is refused.
    const cookie = (await context.cookies()).find((c) => c.name === 'berth_session')!;
    const forged = await fetch(BASE + '/v1/apps/shop/restart', {
      method: 'POST',
      headers: { cookie: `berth_session=${cookie.value}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(forged.status, 403);
  } finally {
    await context.close();
  }
});

registerViewTests();
