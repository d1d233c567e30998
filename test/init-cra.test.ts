import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { hit } from './helpers/http.js';
import { assertOk, REPO, TestHome } from './helpers/home.js';

/**
 * Issue 18, "each result deploys", for Create React App: `berth init`'s berth.yaml for the CRA fixture
 * (test/fixtures/init/cra, react-scripts 5.0.1) is the golden one and deploys as written, unchanged:
 * `npm ci` (from npm's cache in .berth-npm-cache, which scripts/test.sh fills once from the fixture's
 * lockfile, so no registry is needed), `npm run build` (`react-scripts build`: webpack, Babel, Terser),
 * and Berth's proxy serves build/ on the route init gave it, with the SPA fallback: a client-side
 * route gets index.html, which loads the hashed bundle react-scripts wrote.
 */
const home = new TestHome('31900-31999');
const P = home.httpPort;
after(() => home.cleanup());
const FIXTURE = path.join(REPO, 'test', 'fixtures', 'init', 'cra');

test(
  "berth init's Create React App result builds with react-scripts and is served with its SPA fallback",
  { timeout: 900_000 },
  async () => {
    const dir = path.join(home.root, 'apps', 'cra');
    cpSync(FIXTURE, dir, { recursive: true });
    assertOk(await home.cli('init', dir));
    const written = readFileSync(path.join(dir, 'berth.yaml'), 'utf8');
    assert.equal(written, readFileSync(`${FIXTURE}.expected.yaml`, 'utf8'), 'the golden berth.yaml, as written');
    // Berth keeps npm's cache per environment in its home for builds: here, the one filled from the lockfile.
    const cache = path.join(home.home, 'homes', 'storefront-admin', 'production', '.npm');
    mkdirSync(path.dirname(cache), { recursive: true, mode: 0o700 });
    symlinkSync(path.join(REPO, '.berth-npm-cache'), cache);
    assertOk(await home.cli('daemon', 'start'));
    const t0 = Date.now();
    // No env for the build, in init's result or here: react-scripts build asks nothing when its output is
    // not a terminal (berthd's build log). CI=true would make every lint warning fail the build, and
    // GENERATE_SOURCEMAP=false would drop the source maps the app ships: the app's choices, not init's.
    // npm ci unpacks ~1300 packages (42,000 files) and webpack compiles: on a loaded machine, minutes.
    assertOk(await home.run(['up', dir], { timeoutMs: 600_000 }));
    console.log(`# cra: berth up (npm ci, react-scripts build) took ${Date.now() - t0} ms`);
    const log = readFileSync(path.join(home.home, 'logs', 'storefront-admin', 'production', 'build-1.log'), 'utf8');
    assert.match(log, /Compiled successfully/);

    // A client-side route: no such file, so the SPA fallback answers with build/index.html.
    const page = await hit(P, 'storefront-admin.localhost', '/orders/42');
    assert.equal(page.status, 200, page.text());
    assert.match(page.text(), /<title>Storefront admin<\/title>/);
    const bundle = /<script defer="defer" src="(\/static\/js\/main\.[0-9a-f]{8}\.js)"><\/script>/.exec(page.text());
    assert.ok(bundle, `index.html loads the bundle react-scripts built: ${page.text()}`);
    const root = await hit(P, 'storefront-admin.localhost', '/');
    assert.equal(root.text(), page.text(), 'the root and a client-side route get the same index.html');
    const js = await hit(P, 'storefront-admin.localhost', bundle[1]!);
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.match(js.text(), /Storefront admin/, "the bundle is the app's own code (its heading), minified");
    assert.doesNotMatch(js.text(), /<!doctype html>/i, 'the asset itself, not the fallback page');
  },
);

test('without a lockfile, init builds the CRA app with npm install and says why to commit one', async () => {
  const dir = path.join(home.root, 'apps', 'cra-unlocked');
  cpSync(FIXTURE, dir, { recursive: true });
  rmSync(path.join(dir, 'package-lock.json'));
  const r = await home.cli('init', dir, '--print');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ {6}- npm install\n {6}- npm run build\n {4}static: build\n {4}spa: true$/m);
  assert.match(r.stdout, /# - no lockfile \(package-lock\.json\): each build runs npm install, which may pick newer/);
});
