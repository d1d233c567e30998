import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifest } from '../src/config/manifest.js';
import {
  assertBranch,
  branchMatches,
  branchSlug,
  environmentFor,
  manifestForEnvironment,
} from '../src/core/environments.js';
import { isValidName } from '../src/core/names.js';

test('branch patterns: "*" matches any characters, "/" included; the rest literally', () => {
  assert.ok(branchMatches('feature/*', 'feature/login'));
  assert.ok(branchMatches('feature/*', 'feature/a/b'));
  assert.ok(!branchMatches('feature/*', 'feature/'));
  assert.ok(!branchMatches('feature/*', 'hotfix/feature/x'));
  assert.ok(!branchMatches('release-1.*', 'release-1x2'), 'a dot is a dot');
  assert.ok(branchMatches('release-1.*', 'release-1.2'));
});

test('branch slugs are DNS labels, and long ones stay unique', () => {
  assert.equal(branchSlug('feature/Login_Page'), 'feature-login-page');
  assert.equal(branchSlug('feature//x--y'), 'feature-x-y');
  const long1 = branchSlug(`feature/${'a'.repeat(80)}-one`);
  const long2 = branchSlug(`feature/${'a'.repeat(80)}-two`);
  assert.ok(isValidName(long1) && isValidName(long2));
  assert.notEqual(long1, long2);
  assert.throws(() => branchSlug('___'), /no letters or digits/);
});

test('branch names that could be options, ranges or paths are refused', () => {
  for (const bad of ['-x', '--upload-pack=sh', 'a..b', 'a//b', 'a/', 'x.lock', 'a b', 'a;b', '$(id)', 'ä'])
    assert.throws(() => assertBranch(bad), /not a branch name Berth accepts/, bad);
  assert.equal(assertBranch('feature/x_y-1.2'), 'feature/x_y-1.2');
});

test("an environment's manifest: hosts from its template, its env over the services'", () => {
  const m = parseManifest(
    `app: shop
services:
  web: { run: node web.js, env: { MODE: web, LEVEL: info }, routes: [shop.example.com, "shop.example.com/app/"] }
  api: { run: node api.js, routes: [api.shop.example.com] }
environments:
  production: { branch: main }
  preview: { branch: "feature/*", hostname: "{branch}.{host}", env: { LEVEL: debug } }
`,
    'berth.yaml',
  );
  const { spec, name } = environmentFor(m.environments, 'feature/new-cart');
  assert.equal(name, 'feature-new-cart');
  const p = manifestForEnvironment(m, spec, name);
  assert.deepEqual(
    p.services.map((s) => s.routes.map((r) => `${r.host}${r.path}`)),
    [
      ['feature-new-cart.shop.example.com/', 'feature-new-cart.shop.example.com/app/'],
      ['feature-new-cart.api.shop.example.com/'],
    ],
  );
  assert.deepEqual(p.services[0]?.env, { MODE: 'web', LEVEL: 'debug' });
  const prod = environmentFor(m.environments, 'main');
  assert.equal(prod.name, 'production');
  assert.deepEqual(
    manifestForEnvironment(m, prod.spec, prod.name).services[1]?.routes[0]?.host,
    'api.shop.example.com',
  );
  assert.throws(() => environmentFor(m.environments, 'hotfix/1'), /no environment accepts branch "hotfix\/1"/);
});
