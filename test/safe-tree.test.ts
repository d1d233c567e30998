import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { chownTree, removeTree } from '../src/system/safe-tree.js';
import { NODE } from './helpers/home.js';

/**
 * The no-follow walks themselves, against a process of another user that keeps swapping
 * the tree's directories for links to a victim (and back) while root walks it, without
 * the tree being taken first: whatever that process does, the victim keeps its owners,
 * modes and contents. Needs root (a writer of another uid).
 */
const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'needs root: a writer of another uid';
const NOBODY = 65534;
const base = mkdtempSync(path.join(tmpdir(), 'berth-safe-tree-'));
const victim = path.join(base, 'victim');
chmodSync(base, 0o711); // the writer reaches its tree
after(() => rmSync(base, { recursive: true, force: true }));

function makeVictim(): Record<string, string> {
  rmSync(victim, { recursive: true, force: true });
  mkdirSync(path.join(victim, 'inner'), { recursive: true });
  writeFileSync(path.join(victim, 'a.txt'), 'victim a');
  writeFileSync(path.join(victim, 'inner', 'b.txt'), 'victim b');
  for (const [rel, mode] of [
    ['', 0o775],
    ['a.txt', 0o664],
    ['inner', 0o751],
    ['inner/b.txt', 0o604],
  ] as const) {
    chownSync(path.join(victim, rel), 4242, 4343);
    chmodSync(path.join(victim, rel), mode);
  }
  return state(victim);
}

function state(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = path.join(dir, rel);
    const st = lstatSync(p);
    out[rel || '.'] =
      `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}${st.isFile() ? ' ' + readFileSync(p, 'utf8') : ''}`;
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(path.join(rel, n));
  };
  walk('');
  return out;
}

/** A tree of nobody's with static links to the victim (to its directory, a file, dangling, chained). */
function makeTree(round: number): string {
  const parent = path.join(base, `p${round}`);
  mkdirSync(parent, { mode: 0o711 }); // root's, like BERTH_HOME's directories
  const tree = path.join(parent, 'tree');
  mkdirSync(path.join(tree, 'nested'), { recursive: true });
  symlinkSync(victim, path.join(tree, 'dirlink'));
  symlinkSync(path.join(victim, 'a.txt'), path.join(tree, 'filelink'));
  symlinkSync(path.join(victim, 'missing'), path.join(tree, 'dangling'));
  symlinkSync('chain2', path.join(tree, 'chain1'));
  symlinkSync(victim, path.join(tree, 'chain2'));
  symlinkSync(victim, path.join(tree, 'nested', 'escape'));
  writeFileSync(path.join(tree, 'nested', 'own.txt'), 'own');
  for (const p of [tree, path.join(tree, 'nested')]) chownSync(p, NOBODY, NOBODY);
  return tree;
}

/** nobody, flipping tree/s<i> between a directory and a link to the victim until it can no longer. */
async function swapping(tree: string, during: () => void): Promise<void> {
  const code = `const fs = require('fs'), p = require('path'), d = process.argv[1], v = process.argv[2];
for (let i = 0; i < 16; i++) { fs.mkdirSync(p.join(d, 's' + i, 'sub'), { recursive: true }); fs.writeFileSync(p.join(d, 's' + i, 'sub', 'f'), 'x'); }
console.log('ready');
const end = Date.now() + 10000;
try {
  for (let k = 0; Date.now() < end; k++) {
    const s = p.join(d, 's' + (k % 16)), x = s + '.x';
    if (fs.lstatSync(s).isSymbolicLink()) { fs.unlinkSync(s); fs.renameSync(x, s); }
    else { fs.renameSync(s, x); fs.symlinkSync(v, s); }
  }
} catch { process.exit(0); }`;
  const child = spawn(NODE, ['-e', code, tree, victim], {
    uid: NOBODY,
    gid: NOBODY,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  await Promise.race([new Promise((r) => child.stdout.once('data', r)), exited]);
  assert.equal(child.exitCode, null, 'the swapper runs');
  try {
    during();
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

test('removeTree on a tree another user swaps links into, without taking it first', { skip }, async () => {
  const pristine = makeVictim();
  for (let round = 0; round < 8; round++) {
    const tree = makeTree(round);
    await swapping(tree, () => removeTree(tree));
    assert.ok(!existsSync(tree), 'the tree is gone');
    assert.deepEqual(state(victim), pristine, `round ${round}: the victim is untouched`);
  }
  removeTree(path.join(base, 'missing'));
  const link = path.join(base, 'toplink');
  symlinkSync(victim, link);
  removeTree(link);
  assert.ok(!existsSync(link) && existsSync(victim), 'a link at the top: the link goes, never its target');
  assert.deepEqual(state(victim), pristine);
});

test(
  'chownTree taking a tree back (top-down) and giving one away (bottom-up) while it is swapped',
  { skip },
  async () => {
    const pristine = makeVictim();
    for (let round = 10; round < 18; round++) {
      const tree = makeTree(round);
      const order = round % 2 ? 'pre' : 'post';
      await swapping(tree, () =>
        chownTree(tree, { uid: order === 'pre' ? 0 : 1234, gid: 1234, mode: (m, dir) => (dir ? 0o700 : 0o600), order }),
      );
      assert.deepEqual(state(victim), pristine, `round ${round} (${order}): the victim is untouched`);
      const links = ['dirlink', 'chain1', 'nested/escape'].map((l) => lstatSync(path.join(tree, l)));
      assert.ok(
        links.every((st) => st.isSymbolicLink() && st.uid === (order === 'pre' ? 0 : 1234)),
        'links get the owner themselves',
      );
      assert.equal(lstatSync(path.join(tree, 'nested', 'own.txt')).mode & 0o777, 0o600, "the tree's own files do");
      removeTree(tree);
    }
  },
);
