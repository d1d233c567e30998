import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { BackupView } from '../src/engine/backup/backups.js';
import { sqliteApp } from './helpers/backup-app.js';
import {
  BASE,
  close,
  launch,
  PASSWORD,
  root,
  shot,
  signIn,
  tabThrough,
  useDashboard,
  withPage,
} from './helpers/dashboard.js';
import { assertOk, TestHome, waitFor } from './helpers/home.js';

/**
 * Backups and restore in the dashboard (issue 19), in Debian's Chromium against a real berthd and real restic: an
 * app keeping rows in SQLite in its $DATA_DIR is backed up from the Backups view, the snapshot is listed as
 * verified, the rows change, and the snapshot is restored through the view's confirm, driven from the keyboard;
 * the app serves the old rows again. A viewer sees the list without a button, and the API refuses what the
 * buttons would have done.
 */
const API_PORT = 18364;
const home = useDashboard(new TestHome('26400-26499'), API_PORT);
const { manifest, rows } = sqliteApp(home);

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  const s = root();
  await s.call('POST', '/v1/orgs', { name: 'acme' });
  for (const [name, role] of [
    ['mia', 'member'],
    ['vic', 'viewer'],
  ])
    await s.call('POST', '/v1/admin/users', { name, password: PASSWORD, org: 'acme', role });
  assertOk(await home.cli('deploy', home.app('vault', manifest('vault', '{ to: local }')), '--org', 'acme'));
  await launch();
});
after(async () => {
  await close();
  await home.cleanup();
});

async function openBackups(page: Page, user: string): Promise<void> {
  await signIn(page, user);
  await page.locator('section.app[data-app=vault]').waitFor();
  await page.goto(`${BASE}/ui/#/app/vault/production/backups`);
  await page.locator('nav a[data-view=backups][aria-current=page]').waitFor();
}
const status = (page: Page, text: string | RegExp) =>
  page.locator('#backup-status', { hasText: text }).waitFor({ timeout: 120_000 });
const focused = (page: Page) => page.evaluate<string>('document.activeElement?.textContent ?? ""');
/** The restore's question is shown, with the focus on its safe answer. */
const asked = async (page: Page) => {
  await page.locator('button[data-action=confirm-restore]').waitFor();
  // Polled from here: the page's CSP (no unsafe-eval) refuses page.waitForFunction's polling, which evals its predicate.
  await waitFor('the focus on "Keep it"', async () => (await focused(page)) === 'Keep it', 10_000, 50);
};
/** The rows vault serves, once it serves (a restore restarts it). */
const rowsServed = (n: number) =>
  waitFor(`vault serving ${n} rows`, async () => (await rows('vault')) === n, 60_000, 200);

let snapshot = '';

test('a member backs up from the dashboard, sees it verified, changes the rows and restores them through the confirm', async () => {
  assert.equal(await rows('vault', 'add?n=7'), 7);
  await withPage(async (page) => {
    await openBackups(page, 'mia');
    await page.locator('#backup-list', { hasText: 'no backup yet' }).waitFor();
    await page.click('button[data-action=backup]');
    await status(page, /^backup: verified$/);
    const row = page.locator('#backup-list tr[data-status=verified]');
    await row.waitFor();
    snapshot = (await row.getAttribute('data-snapshot')) ?? '';
    assert.match(snapshot, /^[0-9a-f]{8,64}$/);
    assert.match((await row.textContent()) ?? '', /app\.db: 1 tables, 7 rows/);
    const ls = await home.json<BackupView[]>('backup', 'ls', 'vault');
    assert.deepEqual(
      ls.map((b) => [b.snapshot, b.verified]),
      [[snapshot, true]],
      'the view lists what berth backup ls does',
    );

    assert.equal(await rows('vault', 'clear'), 0);
    assert.equal(await rows('vault', 'add?n=2'), 2);
    // From the keyboard: Enter on Restore asks first, with the focus on the safe answer, which keeps the data.
    const restore = row.locator('button[data-action=restore]');
    await restore.focus();
    await page.keyboard.press('Enter');
    await asked(page);
    await page.keyboard.press('Enter');
    await restore.waitFor();
    assert.equal(await page.locator('button[data-action=confirm-restore]').count(), 0);
    assert.equal(await rows('vault'), 2, '"Keep it" restored nothing');
    // Asked again, Shift+Tab reaches the restore itself, and Enter does it.
    await restore.focus();
    await page.keyboard.press('Enter');
    await asked(page); // else Shift+Tab may come before the question takes the focus
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), `Replace production's data with ${snapshot}`);
    await shot(page, 'backups');
    await page.keyboard.press('Enter');
    await status(page, `restore ${snapshot}: done`);
    await rowsServed(7);
  });
});

test('a viewer sees the verified backup without a button, and the API refuses a backup and a restore', async () => {
  assert.ok(snapshot, 'the first test made a snapshot');
  assert.equal(await rows('vault', 'add?n=1'), 8);
  await withPage(async (page) => {
    await openBackups(page, 'vic');
    await page.locator(`#backup-list tr[data-snapshot="${snapshot}"][data-status=verified]`).waitFor();
    assert.deepEqual(await page.locator('button').allTextContents(), ['Sign out'], 'no button but signing out');
    // In the page, with the viewer's session and CSRF token: what the missing buttons would have sent.
    const refused = await page.evaluate<Array<{ status: number; message: string }>>(`(async () => {
      const csrf = localStorage.getItem('berth.csrf') ?? '';
      const post = async (url) => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ env: 'production' }),
        });
        return { status: res.status, message: (await res.json()).error?.message ?? '' };
      };
      return [await post('/v1/apps/vault/backups/${snapshot}/restore'), await post('/v1/apps/vault/backups')];
    })()`);
    assert.deepEqual(
      refused.map((r) => r.status),
      [403, 403],
      JSON.stringify(refused),
    );
    assert.match(refused[0]!.message, /member/);
  });
  assert.equal(await rows('vault'), 8, 'nothing restored');
  assert.equal((await home.json<BackupView[]>('backup', 'ls', 'vault')).length, 1, 'no backup made');
});

test('on a phone-sized screen the Backups view fits, and with the confirm open Tab reaches every control, each named', async () => {
  await withPage(
    async (page) => {
      await openBackups(page, 'mia');
      await page.locator(`#backup-list tr[data-snapshot="${snapshot}"] button[data-action=restore]`).click();
      // Once the question has the focus: a Tab before that starts from Restore, and the round ends early (CI once).
      await asked(page);
      assert.ok((await page.evaluate<number>('document.documentElement.scrollWidth')) <= 390);
      const { unnamed, missed } = await tabThrough(page);
      assert.deepEqual(unnamed, [], 'controls without a name');
      assert.deepEqual(missed, [], 'controls Tab never reached');
      await page.locator('button[data-action=keep]').click();
    },
    { viewport: { width: 390, height: 844 } },
  );
});
