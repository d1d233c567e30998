import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ApiClient } from '../src/api/client.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * The dashboard in a real Chromium (Debian's, driven by playwright-core) against a real
 * berthd over TCP: sign in with a session, see apps, instances and routes as the API has
 * them, restart an app, and nothing of another organisation.
 */
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('25900-25999');
const API = 18359;
const BASE = `http://127.0.0.1:${API}`;
Object.assign(home.env, { BERTH_API_LISTEN: `127.0.0.1:${API}` });
const PASSWORD = 'correct horse battery staple';
let browser: Browser;

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  const s = new ApiClient(path.join(home.home, 'berthd.sock'));
  await s.call('POST', '/v1/orgs', { name: 'acme' });
  await s.call('POST', '/v1/orgs', { name: 'other' });
  await s.call('POST', '/v1/admin/users', { name: 'mia', password: PASSWORD, org: 'acme', role: 'member' });
  await s.call('POST', '/v1/admin/users', { name: 'vic', password: PASSWORD, org: 'acme', role: 'viewer' });
  const app = (name: string) =>
    home.app(name, `app: ${name}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [${name}.test]\n`);
  assertOk(await home.cli('deploy', app('shop'), '--org', 'acme'));
  // An app without routes, in two environments.
  const jobs = home.app('jobs', `app: jobs\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n`);
  assertOk(await home.cli('deploy', jobs, '--org', 'acme'));
  assertOk(await home.cli('deploy', jobs, '--env', 'staging'));
  assertOk(await home.cli('deploy', app('secretive'), '--org', 'other'));
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser.close();
  await home.cleanup();
});

async function signIn(page: Page, name: string, password = PASSWORD): Promise<void> {
  await page.goto(BASE + '/');
  await page.locator('form#login').waitFor();
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('form#login button[type=submit]');
}

test('sign in, see the app healthy with its route, restart it, sign out', async () => {
  const context = await browser.newContext();
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
  const context = await browser.newContext();
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

async function pidOf(app: string, env = 'production'): Promise<number | null> {
  const rows = await home.json<Array<{ app: string; env: string; pid: number | null; current: boolean }>>('ps', app);
  return rows.find((r) => r.current && r.env === env)?.pid ?? null;
}
