import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  constants,
  copyFileSync,
  cpSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
} from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { runCommand } from '../../system/command.js';
import { resolveUnder } from '../../system/paths.js';
import { insideGitWorkTree } from '../../system/work-tree.js';
import { MANIFEST_FILE, type ManifestParse } from '../../config/manifest-basics.js';
import type { Manifest } from '../../config/manifest-types.js';

/** Where a release's files come from. */
export interface SourceSpec {
  readonly dir: string;
  /** A git ref (branch, tag, commit) to archive instead of the working tree. */
  readonly ref?: string | undefined;
}

const REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;

async function git(dir: string, args: string[]): Promise<string | undefined> {
  const r = await runCommand(['git', '-C', dir, ...args]).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trim() : undefined;
}

/** The commit a ref names, or an error that says which refs exist. A ref never starts with "-". */
async function resolveRef(dir: string, ref: string): Promise<string> {
  if (!REF_PATTERN.test(ref) || ref.includes('..')) {
    throw new BerthError('invalid', 'invalid_ref', `--ref ${JSON.stringify(ref)} is not a branch, tag or commit name`, {
      hint: 'e.g. --ref main, --ref v1.2.0, --ref 3f2a9c1',
    });
  }
  const sha = await git(dir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  if (!sha)
    throw new BerthError('invalid', 'unknown_ref', `${dir} has no commit ${JSON.stringify(ref)}`, {
      hint: 'see `git branch -a` and `git tag` there',
    });
  return sha;
}

/**
 * Copies the source into `dest`: `git archive` of the ref, or the working tree. In a git
 * work tree only the files git would track come along (tracked and untracked-but-not-
 * ignored): `.git` and whatever `.gitignore` excludes stay out. Elsewhere everything but
 * `.git`. Returns the commit when there is one.
 */
export async function snapshot(source: SourceSpec, dest: string): Promise<{ commit?: string }> {
  mkdirSync(dest, { recursive: true, mode: 0o750 });
  const inGit =
    insideGitWorkTree(source.dir) && (await git(source.dir, ['rev-parse', '--is-inside-work-tree'])) === 'true';
  if (source.ref !== undefined) {
    if (!inGit)
      throw new BerthError('invalid', 'not_git', `--ref needs a git repository, and ${source.dir} is not one`, {
        hint: 'drop --ref to deploy the working tree',
      });
    const commit = await resolveRef(source.dir, source.ref);
    const prefix = (await git(source.dir, ['rev-parse', '--show-prefix'])) ?? '';
    await archive(source.dir, `${commit}:${prefix}`, dest);
    return { commit };
  }
  if (!inGit) {
    cpSync(source.dir, dest, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => path.basename(src) !== '.git',
    });
    return {};
  }
  const listed = await runCommand([
    'git',
    '-C',
    source.dir,
    'ls-files',
    '-z',
    '--cached',
    '--others',
    '--exclude-standard',
  ]);
  if (listed.code !== 0)
    throw new BerthError('failed', 'snapshot_failed', `listing files of ${source.dir}: ${listed.stderr.trim()}`);
  for (const rel of new Set(listed.stdout.split('\0').filter(Boolean))) copyOne(source.dir, rel, dest);
  const head = await git(source.dir, ['rev-parse', 'HEAD']);
  return head ? { commit: head } : {};
}

/** The branch checked out in `dir`, or undefined (not a git work tree, or a detached HEAD). */
export async function currentBranch(dir: string): Promise<string | undefined> {
  if (!insideGitWorkTree(dir)) return undefined;
  return (await git(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD'])) || undefined;
}

function copyOne(root: string, rel: string, dest: string): void {
  const from = resolveUnder(root, rel);
  const to = resolveUnder(dest, rel);
  let st;
  try {
    st = lstatSync(from);
  } catch {
    return; // deleted in the working tree but still in the index
  }
  if (!makeParents(dest, path.relative(dest, path.dirname(to)))) return;
  if (st.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
  else if (st.isFile()) {
    copyFileSync(from, to, constants.COPYFILE_EXCL); // never onto (or through) a link copied before
    chmodSync(to, st.mode & 0o777);
  }
}

/**
 * The directories of `rel` below `dest`, made as needed; false when one is a link copied
 * before (git lists nothing below a link, unless the tree changed while it was listed): a
 * file is never written through a link of the source tree.
 */
function makeParents(dest: string, rel: string): boolean {
  let dir = dest;
  for (const part of rel ? rel.split(path.sep) : []) {
    dir = path.join(dir, part);
    try {
      if (!lstatSync(dir).isDirectory()) return false;
    } catch {
      mkdirSync(dir);
    }
  }
  return true;
}

function archive(dir: string, treeish: string, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const producer = spawn('git', ['-C', dir, 'archive', '--format=tar', treeish], {
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const consumer = spawn('tar', ['-x', '-C', dest], { shell: false, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    producer.stderr.on('data', (c: Buffer) => (err += c.toString()));
    consumer.stderr.on('data', (c: Buffer) => (err += c.toString()));
    producer.stdout.pipe(consumer.stdin);
    let pending = 2;
    let failed = false;
    const done = (code: number | null) => {
      if (code !== 0) failed = true;
      if (--pending > 0) return;
      if (failed) reject(new BerthError('failed', 'snapshot_failed', `git archive ${treeish}: ${err.trim()}`));
      else resolve();
    };
    producer.once('error', reject);
    consumer.once('error', reject);
    producer.once('close', done);
    consumer.once('close', done);
  });
}

/**
 * A digest of a directory's files (paths, modes, contents): equal trees, equal digests.
 * `files` limits it to those paths (git's view); otherwise everything but `.git`.
 */
export function treeDigest(dir: string, files?: readonly string[]): string {
  const hash = createHash('sha256');
  const add = (r: string) => {
    let st;
    try {
      st = lstatSync(path.join(dir, r));
    } catch {
      return; // listed by git, deleted in the working tree
    }
    if (st.isDirectory()) return walk(r);
    hash.update(`${r}\0${st.mode & 0o777}\0`);
    hash.update(st.isSymbolicLink() ? readlinkSync(path.join(dir, r)) : readFileSync(path.join(dir, r)));
    hash.update('\0');
  };
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) if (name !== '.git') add(rel ? `${rel}/${name}` : name);
  };
  if (files) files.forEach(add);
  else walk('');
  return hash.digest('hex');
}

/** The manifest as committed at `ref` (read with `git show`, argv only). */
export async function manifestAtRef(
  dir: string,
  ref: string,
  parse: ManifestParse,
): Promise<{ manifest: Manifest; dir: string }> {
  const prefix = await runCommand(['git', '-C', dir, 'rev-parse', '--show-prefix']);
  if (prefix.code !== 0)
    throw new BerthError('invalid', 'not_git', `--ref needs a git repository, and ${dir} is not one`, {
      hint: 'drop --ref to deploy the working tree',
    });
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/.test(ref) || ref.includes('..'))
    throw new BerthError('invalid', 'invalid_ref', `--ref ${JSON.stringify(ref)} is not a branch, tag or commit name`);
  const shown = await runCommand(['git', '-C', dir, 'show', `${ref}:${prefix.stdout.trim()}${MANIFEST_FILE}`]);
  if (shown.code !== 0)
    throw new BerthError(
      'invalid',
      'manifest_missing',
      `${ref} has no ${MANIFEST_FILE} in ${dir}: ${shown.stderr.trim()}`,
    );
  return { manifest: await parse(shown.stdout, `${MANIFEST_FILE}@${ref}`), dir: path.resolve(dir) };
}
