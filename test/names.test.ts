import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BerthError } from '../src/core/errors.js';
import { assertName, isValidName } from '../src/core/names.js';
import { HomeLayout, resolveUnder } from '../src/system/paths.js';

const BAD = [
  '../x',
  'a/b',
  '$(id)',
  'a;b',
  '`id`',
  'a b',
  'A',
  'shоp' /* Cyrillic о */,
  'ѕhop' /* Cyrillic ѕ */,
  'caf\u00e9',
  'a\u200bb',
  '-a',
  'a-',
  '',
  '.',
  '..',
  'a.b',
  'a_b',
  'x'.repeat(64),
  'a\nb',
  'a\0b',
];
const GOOD = ['a', 'web', 'api-2', '0', 'x'.repeat(63), 'feature-login'];

test('one rule for app, service and environment names: DNS labels only', () => {
  for (const name of BAD) assert.equal(isValidName(name), false, `accepted ${JSON.stringify(name)}`);
  for (const name of GOOD) assert.equal(isValidName(name), true, `refused ${JSON.stringify(name)}`);
  for (const kind of ['app', 'service', 'environment'] as const) {
    assert.throws(
      () => assertName(kind, '../x'),
      (e: unknown) =>
        e instanceof BerthError && e.message.startsWith(`${kind} name "../x"`) && /DNS labels/.test(e.hint ?? ''),
    );
  }
});

test('every path derived from a name stays under its root', () => {
  const layout = new HomeLayout('/srv/berth');
  for (const name of BAD) {
    assert.throws(() => layout.dataDir(name, 'production'), BerthError, `dataDir accepted ${JSON.stringify(name)}`);
    assert.throws(() => layout.logDir('shop', name), BerthError, `logDir accepted ${JSON.stringify(name)}`);
    assert.throws(() => layout.releasesDir(name, 'production'), BerthError);
  }
  assert.equal(layout.dataDir('shop', 'production'), '/srv/berth/data/shop/production');
  assert.throws(() => resolveUnder('/srv/berth', '../etc/passwd'), /escapes its root/);
  assert.throws(() => resolveUnder('/srv/berth', '/etc'), /escapes its root/);
  assert.throws(() => resolveUnder('/srv/berth', 'a/../../b'), /escapes its root/);
  assert.equal(resolveUnder('/srv/berth', 'a/./b'), '/srv/berth/a/b');
});
