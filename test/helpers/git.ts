import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Real git for the tests' repositories: an identity of its own and no signing, so the host's
 * git configuration never decides a test's outcome.
 */
export function git(dir: string, ...args: string[]): string {
  return execFileSync(
    'git',
    [
      '-C',
      dir,
      '-c',
      'user.name=Berth Test',
      '-c',
      'user.email=test@berth.invalid',
      '-c',
      'commit.gpgsign=false',
      ...args,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Makes `dir` a repository on `main` with everything in it committed. */
export function initRepo(dir: string, message = 'initial'): void {
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', message);
}

/** A branch off main with one commit of its own (the checkout stays on main). */
export function branch(dir: string, name: string, file: string, text: string): void {
  git(dir, 'checkout', '-q', '-b', name, 'main');
  writeFileSync(path.join(dir, file), text);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', `on ${name}`);
  git(dir, 'checkout', '-q', 'main');
}
