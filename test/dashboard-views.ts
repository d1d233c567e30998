import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { hit } from './helpers/http.js';
import { waitFor } from './helpers/home.js';
import { BASE, git, home, root, shot, signIn, tabThrough, withPage } from './helpers/dashboard.js';

/**
 * The pages of an app in the dashboard (issue 19), registered by test/dashboard.test.ts on its berthd: a member
 * deploys (production, then a branch into a preview) with the steps streaming in, rolls back and removes the
 * preview; follows a service's log and searches it; an admin sets and unsets a secret; a viewer gets no button
 * anywhere and the API refuses what the buttons would do; on a phone's screen nothing runs off the side, and
 * every control is reached with Tab and has a name.
 */
const shopDir = () => path.join(home.root, 'apps', 'shop');
const open = async (page: Page, view: string, env = 'production') => {
  await page.goto(`${BASE}/ui/#/app/shop/${env}/${view}`);
  await page.locator(`nav a[data-view=${view}][aria-current=page]`).waitFor();
};
const result = (page: Page, text: RegExp) =>
  page.locator('#deploy-result', { hasText: text }).waitFor({ timeout: 60_000 });

function commit(branch: string, text: string): void {
  const dir = shopDir();
  if (branch !== 'main') git(dir, 'checkout', '-q', '-b', branch, 'main');
  writeFileSync(path.join(dir, 'VERSION'), text);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', text);
  git(dir, 'checkout', '-q', 'main');
}

export function registerViewTests(): void {
  test('a member deploys with the steps streaming live, rolls back, deploys a branch into a preview and removes it', async () => {
    await withPage(async (page) => {
      await signIn(page, 'mia');
      await page.locator('section.app[data-app=shop] h2 a').click();
      await page.locator('#release-list tr[data-release="1"]').waitFor();
      writeFileSync(path.join(shopDir(), 'SLOW'), '3000'); // release 2 listens after 3 s: its wave runs that long
      commit('main', 'two\n');
      await page.click('button[data-action=deploy]');
      // Live: a step is shown running while the deployment is still going.
      await page.locator('#deploy-live .step-running').first().waitFor();
      await result(page, /succeeded \(release 2, production\)/);
      assert.ok((await page.locator('#deploy-live li.step').count()) >= 3);
      await shot(page, 'deploy');

      await page.click('button[data-action=rollback][data-release="1"]');
      await result(page, /succeeded \(release 1, production\)/);
      const releases = await root().call<{ releases: Array<{ number: number; current: boolean }> }>(
        'GET',
        '/v1/apps/shop/releases',
      );
      assert.deepEqual(
        releases.releases.filter((r) => r.current).map((r) => r.number),
        [1],
      );
      await page.locator('#deployments summary', { hasText: 'rollback of release 1: succeeded' }).waitFor();

      commit('feature/x', 'x\n');
      await page.fill('input[name=branch]', 'feature/x');
      await page.click('button[data-action=deploy-branch]');
      await result(page, /succeeded \(release \d+, feature-x\)/);

      await page.click('nav a[data-view=environments]');
      const row = page.locator('#env-list tr[data-env=feature-x]');
      await row.waitFor();
      const text = (await row.textContent()) ?? '';
      assert.match(text, /feature-x \(preview\)feature\/xfeature-x\.preview\.shop\.test/);
      assert.match((await row.locator('td').nth(5).textContent()) ?? '', /\d/, 'its expiry is shown');
      assert.equal(await page.locator('#env-list tr[data-env=production] button').count(), 0, 'production stays');
      await shot(page, 'environments');
      await row.locator('button[data-action=remove-env]').click();
      await page.click('button[data-action=confirm-remove]');
      await row.waitFor({ state: 'detached', timeout: 30_000 });
      const envs = await root().call<Array<{ name: string }>>('GET', '/v1/apps/shop/environments');
      assert.deepEqual(
        envs.map((e) => e.name),
        ['production'],
      );
    });
  });

  test("a service's log follows live, and a search shows only the lines with it", async () => {
    await withPage(async (page) => {
      await signIn(page, 'mia');
      await page.locator('section.app[data-app=shop]').waitFor();
      await open(page, 'logs');
      await page.locator('#log-state', { hasText: 'following live' }).waitFor();
      const lines = page.locator('#log-lines');
      for (const p of ['/needle-1', '/other-1']) assert.equal((await hit(home.httpPort, 'shop.test', p)).status, 200);
      await lines.filter({ hasText: 'hit /other-1' }).waitFor();
      await page.fill('#log-search', 'needle');
      await lines.filter({ hasText: 'hit /needle-1' }).waitFor();
      assert.doesNotMatch((await lines.textContent()) ?? '', /other-1/);
      for (const p of ['/other-2', '/needle-2']) assert.equal((await hit(home.httpPort, 'shop.test', p)).status, 200);
      await lines.filter({ hasText: 'hit /needle-2' }).waitFor();
      assert.doesNotMatch((await lines.textContent()) ?? '', /other/);
      await shot(page, 'logs');
    });
  });

  test("the metrics view graphs a service's last hour: the requests sent show in its points", async () => {
    await withPage(async (page) => {
      await signIn(page, 'mia');
      await page.locator('section.app[data-app=shop]').waitFor();
      await open(page, 'metrics');
      const web = page.locator('#metrics section.metrics[data-service=web]');
      await web.locator('table.metric-values tbody tr').first().waitFor({ state: 'attached', timeout: 30_000 });
      /** The requests of all web's points, as the page has them (each row: one interval's). */
      const counted = () =>
        page.evaluate<number>(`[...document.querySelectorAll('#metrics section[data-service=web] tr[data-requests]')]
          .reduce((n, tr) => n + Number(tr.dataset.requests), 0)`);
      const before = await counted();
      for (let n = 0; n < 25; n++) assert.equal((await hit(home.httpPort, 'shop.test', `/graph-${n}`)).status, 200);
      // Each point is one interval's requests: together, after the next samples, 25 more than before.
      await waitFor('the 25 requests in the graph', async () => (await counted()) >= before + 25, 30_000, 200);
      assert.equal(await counted(), before + 25);
      const requests = web.locator('figure[data-chart=requests]');
      assert.ok(Number(await requests.getAttribute('data-peak')) > 0);
      assert.match(
        (await requests.locator('svg polyline').getAttribute('points')) ?? '',
        /^[\d.]+,[\d.]+( [\d.]+,[\d.]+)*$/,
      );
      assert.match(
        (await requests.locator('svg').getAttribute('aria-label')) ?? '',
        /^Requests of web over the last hour: latest [\d.]+ req\/s, peak [\d.]+ req\/s$/,
      );
      for (const chart of ['latency', 'cpu', 'memory'])
        assert.equal(await web.locator(`figure[data-chart=${chart}] svg[role=img]`).count(), 1, chart);
      assert.ok(Number(await web.locator('figure[data-chart=memory]').getAttribute('data-peak')) > 1, 'RSS in MB');
      if (process.env.BERTH_SCREENSHOTS === '1') {
        // For the picture: real requests at a rate that rises and falls, each burst counted before the next.
        for (let round = 0; round < 30; round++) {
          const counted0 = await counted();
          const burst = 2 + ((round * 7) % 13);
          for (let n = 0; n < burst; n++) await hit(home.httpPort, 'shop.test', `/picture-${round}-${n}`);
          await waitFor('the burst in the graph', async () => (await counted()) >= counted0 + burst, 30_000, 100);
        }
      }
      await shot(page, 'metrics');
    });
  });

  test('an admin sets a secret by name (its value never shown) and unsets it', async () => {
    const value = 'hunter2-not-for-display';
    const names = async () =>
      (await root().call<Array<{ name: string }>>('GET', '/v1/apps/shop/secrets')).map((s) => s.name);
    await withPage(async (page) => {
      await signIn(page, 'ada');
      await page.locator('section.app[data-app=shop]').waitFor();
      await open(page, 'secrets');
      await page.fill('#secret-form input[name=name]', 'SHOP_KEY');
      await page.fill('#secret-form input[name=value]', value);
      await page.click('button[data-action=set-secret]');
      await page.locator('#secret-list tr[data-secret=SHOP_KEY]').waitFor();
      assert.deepEqual(await names(), ['SHOP_KEY']);
      assert.equal(await page.inputValue('#secret-form input[name=value]'), '', 'the form forgets the value');
      assert.ok(!(await page.content()).includes(value));
      await shot(page, 'secrets');
      await page.click('button[data-action=unset-secret][data-secret=SHOP_KEY]');
      await page.locator('#secret-list tr[data-secret=SHOP_KEY]').waitFor({ state: 'detached' });
      assert.deepEqual(await names(), []);
    });
  });

  test("a viewer sees no button on any of an app's pages, and the API refuses each change anyway", async () => {
    await withPage(async (page) => {
      await signIn(page, 'vic');
      await page.locator('section.app[data-app=shop]').waitFor();
      const loaded: Record<string, string> = {
        releases: '#release-list tr[data-release]',
        logs: '#log-state >> text=following live',
        environments: '#env-list tr[data-env=production]',
        secrets: 'text=Secret names are shown to members',
        doctor: '#doctor',
        backups: '#backups',
        metrics: '#metrics',
      };
      for (const [view, ready] of Object.entries(loaded)) {
        await open(page, view);
        await page.locator(ready).first().waitFor();
        assert.deepEqual(await page.locator('button').allTextContents(), ['Sign out'], `${view}: no button`);
        assert.equal(await page.locator('form').count(), 0, `${view}: no form`);
      }
      // In the page, with the session and its CSRF token: what the missing buttons would have sent.
      const refused = await page.evaluate<number[]>(`(async () => {
        const csrf = localStorage.getItem('berth.csrf') ?? '';
        const call = async (method, url, body) =>
          (await fetch(url, {
            method,
            headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
            body: body === undefined ? undefined : JSON.stringify(body),
          })).status;
        return [
          await call('POST', '/v1/deployments', { app: 'shop' }),
          await call('POST', '/v1/apps/shop/rollback', { release: 2 }),
          await call('PUT', '/v1/apps/shop/secrets/STOLEN', { value: 'x' }),
          await call('DELETE', '/v1/apps/shop/environments/production'),
          await call('POST', '/v1/apps/shop/restart', {}),
        ];
      })()`);
      assert.deepEqual(refused, [403, 403, 403, 403, 403]);
    });
  });

  test('on a phone-sized screen nothing runs off the side; Tab reaches every control, and each has a name', async () => {
    await withPage(
      async (page) => {
        await signIn(page, 'mia');
        await page.locator('section.app[data-app=shop] td.state-healthy').first().waitFor();
        const width = () => page.evaluate<number>('document.documentElement.scrollWidth');
        assert.ok((await width()) <= 390, `overview: ${await width()} px wide`);
        await shot(page, 'phone-overview');
        await open(page, 'releases');
        await page.locator('#release-list tr[data-release]').first().waitFor();
        await open(page, 'metrics');
        await page.locator('#metrics section[data-service=web] figure[data-chart=memory]').waitFor();
        assert.ok((await width()) <= 390, `metrics: ${await width()} px wide`);
        await shot(page, 'phone-metrics');
        await open(page, 'releases');
        await page.locator('#release-list tr[data-release]').first().waitFor();
        assert.ok((await width()) <= 390, `releases: ${await width()} px wide`);
        await shot(page, 'phone-releases');
        const { unnamed, missed } = await tabThrough(page);
        assert.deepEqual(unnamed, [], 'controls without a name');
        assert.deepEqual(missed, [], 'controls Tab never reached');
      },
      { viewport: { width: 390, height: 844 } },
    );
  });
}
