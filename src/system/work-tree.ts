import { existsSync } from 'node:fs';
import path from 'node:path';
import { runCommand } from './command.js';

/**
 * A directory as git sees it: whether it is in a work tree, and which of its files a snapshot
 * takes. The CLI (an upload) and the deploy engine (a snapshot) ask the same question here.
 */

/** Cheap test before asking git: is there a `.git` in this directory or above it? */
export function insideGitWorkTree(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, '.git'))) return true;
    if (path.dirname(d) === d) return false;
  }
}

/** The files a snapshot of the working tree takes, relative to `dir` (git's view in a work tree). */
export async function sourceFiles(dir: string): Promise<string[] | undefined> {
  if (!insideGitWorkTree(dir)) return undefined;
  const listed = await runCommand(['git', '-C', dir, 'ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  return listed.code === 0 ? [...new Set(listed.stdout.split('\0').filter(Boolean))].sort() : undefined;
}
