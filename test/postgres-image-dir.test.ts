import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { realDir } from '../src/engine/databases/postgres-image.js';

/**
 * A database run from an image has its data directory bind-mounted, and the engine follows links in
 * a mount's source. The app writes under $DATA_DIR, so the directory is mounted only when no link
 * leads to it from $DATA_DIR: a link to a victim directory (last component or on the way) is refused.
 */
const root = mkdtempSync(path.join(tmpdir(), 'berth-pgdir-'));
after(() => rmSync(root, { recursive: true, force: true }));

function layout(name: string): { data: string; victim: string } {
  const data = path.join(root, name, 'data');
  const victim = path.join(root, name, 'victim');
  mkdirSync(path.join(data, '.berth'), { recursive: true });
  mkdirSync(path.join(victim, 'db'), { recursive: true });
  return { data, victim };
}

test('a real directory of the data directory is mounted from its real path', () => {
  const { data } = layout('plain');
  mkdirSync(path.join(data, '.berth', 'db'));
  assert.equal(realDir(path.join(data, '.berth', 'db'), data), path.join(data, '.berth', 'db'));
});

test('a link to a victim directory in place of the database directory is refused', () => {
  const { data, victim } = layout('last');
  symlinkSync(path.join(victim, 'db'), path.join(data, '.berth', 'db'));
  assert.throws(
    () => realDir(path.join(data, '.berth', 'db'), data),
    (err: Error & { code?: string }) => err.code === 'database_dir_link' && /a link\?/.test(err.message),
  );
  assert.deepEqual(readdirSync(path.join(victim, 'db')), [], 'the victim is untouched');
});

test('a link on the way ($DATA_DIR/.berth to a victim) is refused too', () => {
  const { data, victim } = layout('between');
  rmSync(path.join(data, '.berth'), { recursive: true });
  symlinkSync(victim, path.join(data, '.berth'));
  assert.throws(
    () => realDir(path.join(data, '.berth', 'db'), data),
    (err: Error & { code?: string }) => err.code === 'database_dir_link',
  );
});

test('a file in place of the directory is refused', () => {
  const { data } = layout('file');
  symlinkSync('/etc/hostname', path.join(data, '.berth', 'db'));
  assert.throws(
    () => realDir(path.join(data, '.berth', 'db'), data),
    (err: Error & { code?: string }) => err.code === 'database_dir_link',
  );
});
