import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ManifestError, parseManifest } from '../src/config/manifest.js';
import { REPO } from './helpers/home.js';

/**
 * Golden files: a berth.yaml, a separator line, then the exact error message Berth must
 * print for it. `UPDATE_GOLDEN=1 npm test` rewrites the expected part (review the diff).
 */
const DIR = path.join(REPO, 'test', 'golden', 'manifest');
const SEPARATOR = '----- expected -----\n';

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.txt'))
  .sort();

test('there are at least 30 invalid-manifest golden files', () => {
  assert.ok(files.length >= 30, `only ${files.length} golden files`);
});

for (const file of files) {
  test(`golden ${file}`, () => {
    const text = readFileSync(path.join(DIR, file), 'utf8');
    const at = text.indexOf(SEPARATOR);
    assert.ok(at > 0, `${file} has no separator line`);
    const input = text.slice(0, at);
    let message: string | undefined;
    try {
      parseManifest(input, 'berth.yaml');
    } catch (err) {
      assert.ok(err instanceof ManifestError, `${file}: expected a ManifestError, got ${String(err)}`);
      message = err.message;
    }
    assert.ok(message !== undefined, `${file}: the manifest was accepted, but it is invalid`);
    if (process.env.UPDATE_GOLDEN) {
      writeFileSync(path.join(DIR, file), input + SEPARATOR + message + '\n');
      return;
    }
    assert.equal(message + '\n', text.slice(at + SEPARATOR.length));
  });
}
