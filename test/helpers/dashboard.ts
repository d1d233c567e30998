import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { ApiClient } from '../../src/api/client.js';
import { REPO, type TestHome } from './home.js';

/**
 * The dashboard tests' one berthd (over TCP) and one Chromium (Debian's, driven by playwright-core), shared by
 * test/dashboard.test.ts and the cases it registers (test/dashboard-views.ts).
 */
export let home: TestHome;
export let BASE: string;

/** The berthd of `h`, listening on `apiPort` too (the test file names both, for test/port-plan). */
export function useDashboard(h: TestHome, apiPort: number): TestHome {
  home = h;
  BASE = `http://127.0.0.1:${apiPort}`;
  Object.assign(h.env, { BERTH_API_LISTEN: `127.0.0.1:${apiPort}` });
  return h;
}
export const PASSWORD = 'correct horse battery staple';
export const root = () => new ApiClient(path.join(home.home, 'berthd.sock'));
let browser: Browser | undefined;

export async function launch(): Promise<void> {
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
}
export async function close(): Promise<void> {
  await browser?.close();
}

export const newContext = (options: BrowserContextOptions = {}) => browser!.newContext(options);

/** A new browser context and page; `run` gets the page, and the context is closed after. */
export async function withPage(run: (page: Page) => Promise<void>, options: BrowserContextOptions = {}): Promise<void> {
  const context = await browser!.newContext(options);
  try {
    await run(await context.newPage());
  } finally {
    await context.close();
  }
}

export async function signIn(page: Page, name: string, password = PASSWORD): Promise<void> {
  await page.goto(BASE + '/');
  await page.locator('form#login').waitFor();
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('form#login button[type=submit]');
}

/**
 * With BERTH_SCREENSHOTS=1 (scripts/dashboard-screenshots.sh), saves the page as docs/dashboard-NAME.png;
 * in the normal run, nothing.
 */
export async function shot(page: Page, name: string): Promise<void> {
  if (process.env.BERTH_SCREENSHOTS !== '1') return;
  mkdirSync(path.join(REPO, 'docs'), { recursive: true });
  await page.screenshot({ path: path.join(REPO, 'docs', `dashboard-${name}.png`), fullPage: true });
}

export async function pidOf(app: string, env = 'production'): Promise<number | null> {
  const rows = await home.json<Array<{ app: string; env: string; pid: number | null; current: boolean }>>('ps', app);
  return rows.find((r) => r.current && r.env === env)?.pid ?? null;
}

export { git } from './git.js';

/** In the page: the focused control, marked; 'named' when it has an accessible name, 'again' on the second visit. */
const FOCUSED = `(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  if (e.dataset.tabbed) return 'again';
  e.dataset.tabbed = '1';
  const labels = e.labels ? [...e.labels].map((l) => l.textContent).join(' ') : '';
  const name = e.getAttribute('aria-label') || labels || (['INPUT', 'SELECT', 'TEXTAREA'].includes(e.tagName) ? '' : e.textContent);
  return name && name.trim() ? 'named' : e.outerHTML.slice(0, 80);
})()`;
/** In the page: the visible controls Tab never reached. */
const MISSED = `[...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')]
  .filter((e) => e.offsetParent !== null && !e.dataset.tabbed)
  .map((e) => e.outerHTML.slice(0, 80))`;

/**
 * Presses Tab until the focus comes round again (at most `limit` times): the controls it reached without an
 * accessible name, and the visible controls it never reached (both empty when the page is keyboard-usable).
 */
export async function tabThrough(page: Page, limit = 80): Promise<{ unnamed: string[]; missed: string[] }> {
  const unnamed: string[] = [];
  for (let n = 0; n < limit; n++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate<string | null>(FOCUSED);
    if (focused === 'again') break;
    if (focused && focused !== 'named') unnamed.push(focused);
  }
  return { unnamed, missed: await page.evaluate<string[]>(MISSED) };
}
