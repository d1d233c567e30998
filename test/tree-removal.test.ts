import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { removeTreeOffThread } from '../src/system/tree-removal.js';

/**
 * Big trees (a release's node_modules, ~42,000 files for a Create React App) are removed on a
 * thread of their own: berthd's event loop turns while they go. The removal is safe-tree's:
 * a link in the tree, or the tree's own name being a link, is removed as a link, and what it
 * points to stays.
 */
const root = mkdtempSync(path.join(tmpdir(), 'berth-tree-removal-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A tree of `dirs` x `files` small files, like an unpacked node_modules. */
function bigTree(name: string, dirs = 60, files = 50): string {
  const top = path.join(root, name);
  for (let d = 0; d < dirs; d++) {
    const dir = path.join(top, 'node_modules', `pkg-${d}`, 'lib');
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < files; f++) writeFileSync(path.join(dir, `f${f}.js`), 'module.exports = 1;\n');
  }
  return top;
}

test('a tree of 3,000 files goes while the event loop keeps turning, and all of it goes', async () => {
  const tree = bigTree('release-1');
  const state = { done: false };
  const removal = removeTreeOffThread(tree).then(() => (state.done = true));
  let turns = 0;
  while (!state.done && turns < 1_000_000) {
    await new Promise((r) => setImmediate(r));
    turns++;
  }
  await removal;
  assert.ok(turns > 1, `the loop turned ${turns} time(s) during the removal: it was held`);
  assert.equal(existsSync(tree), false);
});

test('links in the tree and in its place are removed as links: what they point to stays', async () => {
  const victim = path.join(root, 'victim');
  mkdirSync(victim);
  writeFileSync(path.join(victim, 'keep'), 'precious\n');
  const tree = bigTree('release-2', 2, 2);
  symlinkSync(victim, path.join(tree, 'node_modules', 'evil'));
  symlinkSync(path.join(victim, 'keep'), path.join(tree, 'file-link'));
  await removeTreeOffThread(tree);
  assert.equal(existsSync(tree), false);
  assert.equal(readFileSync(path.join(victim, 'keep'), 'utf8'), 'precious\n');
  const planted = path.join(root, 'release-3');
  symlinkSync(victim, planted);
  await removeTreeOffThread(planted);
  assert.equal(existsSync(planted), false, 'the link itself goes');
  assert.equal(readFileSync(path.join(victim, 'keep'), 'utf8'), 'precious\n', 'not what it points to');
  await removeTreeOffThread(path.join(root, 'never-was')); // like rm -rf: nothing to do
});
