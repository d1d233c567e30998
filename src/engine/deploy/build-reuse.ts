import { lstatSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { runCommand } from '../../system/command.js';
import { resolveUnder } from '../../system/paths.js';
import type { UnixIds } from '../../system/users.js';
import type { BuildUnit } from './build-units.js';
import { VENV_DIR } from './deps-steps.js';

// Console scripts and pyvenv.cfg of a virtualenv name its absolute path: moved to the new release, they
// must name the new one. A constant program of Berth's, run as the app's user in the new release.
export const VENV_MOVE = [
  'import os, stat, sys',
  'old, new = (a.encode() for a in sys.argv[1:3])',
  "paths = [os.path.join('bin', n) for n in os.listdir('bin')] + ['pyvenv.cfg']",
  'for p in paths:',
  '    st = os.lstat(p)',
  '    if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 20: continue',
  "    with open(p, 'rb') as f: body = f.read()",
  '    if old not in body: continue',
  "    with open(p, 'wb') as f: f.write(body.replace(old, new))",
].join('\n');

export interface ReuseRun {
  /** The release whose build output is reused (sealed: its files are never changed, only read). */
  readonly from: string;
  /** The new release, where the unit's tree is replaced by the copy. */
  readonly to: string;
  readonly user: UnixIds | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly logFile: string;
  readonly redact: (text: string) => string;
}

/**
 * Makes a unit's tree in the new release what the earlier release's build left (its inputs were
 * equal, so a build now would make the same): the snapshot's files there are removed, the old
 * release's copied (links as links, never followed; a copy, never a hard link, so neither release can
 * change the other), then virtualenvs are told their new path. Runs as the app's user, so it can
 * read only what the app may and write only in its own release. False when the old tree is gone.
 */
export async function reuseBuild(unit: BuildUnit, run: ReuseRun): Promise<boolean> {
  const from = resolveUnder(run.from, unit.root);
  const to = resolveUnder(run.to, unit.root);
  try {
    if (!lstatSync(from).isDirectory()) return false;
  } catch {
    return false;
  }
  const steps: [readonly string[], string][] = [
    [['find', to, '-mindepth', '1', '-delete'], to],
    [['cp', '-R', '-P', '--preserve=mode,timestamps,links', '--reflink=auto', '--', `${from}/.`, `${to}/`], to],
  ];
  for (const s of unit.services)
    if (s.deps === 'python') {
      const venv = (root: string) => path.join(resolveUnder(root, s.cwd), VENV_DIR);
      steps.push([['python3', '-c', VENV_MOVE, venv(run.from), venv(run.to)], venv(run.to)]);
    }
  for (const [argv, cwd] of steps) {
    const r = await runCommand(argv, {
      cwd,
      env: run.env,
      logFile: run.logFile,
      redact: run.redact,
      uid: run.user?.uid,
      gid: run.user?.gid,
    });
    if (r.code !== 0)
      throw new BerthError(
        'failed',
        'build_reuse_failed',
        `reusing the build of ${unit.services.map((s) => s.name).join(', ')} from ${run.from} failed: \`${argv.slice(0, 2).join(' ')}\` exited with code ${r.code}`,
        { hint: `see ${run.logFile}; deploy with --no-cache to build afresh` },
      );
  }
  return true;
}
