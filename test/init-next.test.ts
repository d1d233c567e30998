import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { hit } from './helpers/http.js';
import { assertOk, REPO, TestHome } from './helpers/home.js';

/**
 * Issue 18, "each result deploys", for Next.js: `berth init`'s berth.yaml for the Next.js fixture
 * (test/fixtures/init/next, golden-checked in test/init) deploys as written: `npm ci` (from npm's
 * cache in .berth-npm-cache, which scripts/test.sh fills once from the fixture's lockfile, so no
 * registry is needed), `npm run build` (`next build`), `next start` on $PORT, gated on the route
 * handler init found, and answers through Berth's proxy on the route init gave it: the page
 * rendered by Next's server and the API route.
 */
const home = new TestHome('27900-27999');
const P = home.httpPort;
after(() => home.cleanup());

test(
  "berth init's Next.js result builds with next build, runs next start and answers on its route",
  { timeout: 900_000 },
  async () => {
    const dir = path.join(home.root, 'apps', 'next');
    cpSync(path.join(REPO, 'test', 'fixtures', 'init', 'next'), dir, { recursive: true });
    assertOk(await home.cli('init', dir));
    const file = path.join(dir, 'berth.yaml');
    const written = readFileSync(file, 'utf8');
    assert.match(written, /^ {4}run: node_modules\/\.bin\/next start --hostname 127\.0\.0\.1 --port \$PORT$/m);
    // What a user of a build server sets: Next's telemetry off (it would post from every build and start).
    writeFileSync(file, written.replace(/^ {2}web:$/m, '  web:\n    env:\n      NEXT_TELEMETRY_DISABLED: "1"'));
    // Berth keeps npm's cache per environment in its home for builds: here, the one filled from the lockfile.
    const cache = path.join(home.home, 'homes', 'storefront', 'production', '.npm');
    mkdirSync(path.dirname(cache), { recursive: true, mode: 0o700 });
    symlinkSync(path.join(REPO, '.berth-npm-cache'), cache);
    await home.cli('daemon', 'start');
    const t0 = Date.now();
    // The build is CPU-bound (next build compiles with Turbopack): on a loaded machine it takes minutes.
    assertOk(await home.run(['up', dir], { timeoutMs: 600_000 }));
    console.log(`# next: berth up (npm ci, next build, next start, health) took ${Date.now() - t0} ms`);
    const page = await hit(P, 'storefront.localhost', '/');
    assert.equal(page.status, 200, page.text());
    assert.match(page.text(), /<h1>storefront from berth init<\/h1>/);
    assert.match(page.text(), /\/_next\/static\//, 'the page loads the assets next build wrote');
    const health = await hit(P, 'storefront.localhost', '/api/health');
    assert.equal(health.text(), '{"ok":true}');
    // Next's server wrote nothing it could not (the release is read-only to the app once built).
    const logs = await home.cli('logs', 'storefront');
    assert.match(logs.stdout, /Ready in/);
    assert.doesNotMatch(logs.stdout + logs.stderr, /EACCES|EROFS|Error:/);
    const log = readFileSync(path.join(home.home, 'logs', 'storefront', 'production', 'build-1.log'), 'utf8');
    assert.match(log, /Compiled successfully|Creating an optimized production build/);
  },
);
