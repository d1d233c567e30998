import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ServiceSpec } from '../../config/manifest-types.js';
import { runCommand } from '../../system/command.js';
import { resolveUnder } from '../../system/paths.js';
import { DirHandle } from '../../system/safe-tree.js';
import type { ReuseRun } from './build-reuse.js';
import { VENV_MOVE } from './build-reuse.js';
import { toolStamp } from './build-units.js';
import { VENV_DIR } from './deps-steps.js';

/** The files a service's dependencies are installed from, per kind, in its cwd. */
const DEP_FILES = {
  python: ['requirements.txt', 'pyproject.toml'],
  node: ['package.json', 'package-lock.json', 'npm-shrinkwrap.json', '.npmrc'],
} as const;

const READ_LIMIT = 256 * 1024;

/**
 * The digest of what a service's installed dependencies (its .venv or node_modules) are made
 * from: its dependency files as snapshotted (`files`, see releaseFiles), the interpreter and
 * package manager found on PATH (path, size, time), the environment of the install and the
 * service's build commands (a build that changes the venv is replayed on a reused one only if
 * it is the same). Undefined when the service installs no dependencies or its files are not all known.
 */
export function depsKey(
  spec: ServiceSpec,
  files: ReadonlyMap<string, string>,
  env: Readonly<Record<string, string>>,
): string | undefined {
  if (spec.deps !== 'python' && spec.deps !== 'node') return undefined;
  const cwd = path.posix.normalize(spec.cwd).replace(/\/$/, '');
  const hash = createHash('sha256').update(`berth-deps-1\0${spec.deps}\0${cwd}\0`);
  hash.update(JSON.stringify(spec.build));
  hash.update(JSON.stringify(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : 1))));
  const tools = spec.deps === 'python' ? ['python3'] : ['node', 'npm'];
  hash.update(JSON.stringify(tools.map((t) => toolStamp(t, env.PATH ?? ''))));
  for (const name of DEP_FILES[spec.deps]) {
    const rel = cwd === '.' ? name : `${cwd}/${name}`;
    hash.update(`${name}\0${files.get(rel) ?? 'none'}\0`);
  }
  return hash.digest('hex');
}

/**
 * Whether a service's dependencies depend on nothing but its dependency files, so equal files
 * install the same: no requirement that names a local path or another file (`-r`, `-c`, `-e`,
 * `./pkg`, `file:`), no `--find-links` (a directory's contents), no lifecycle script of the
 * app's own package.json (npm ci runs them, a reuse would not). Read in the release through
 * descriptors, links never followed; anything unreadable is not reusable.
 */
export function depsReusable(spec: ServiceSpec, releaseDir: string): boolean {
  const read = (name: string) => readInRelease(releaseDir, spec.cwd, name);
  if (spec.deps === 'python') {
    const req = read('requirements.txt');
    const pyproject = read('pyproject.toml');
    if (req === undefined && pyproject === undefined) return false;
    if (pyproject !== undefined && /file:/.test(pyproject)) return false;
    return (req ?? '').split('\n').every((line) => plainRequirement(line.replace(/(^|\s)#.*$/, '').trim()));
  }
  if (spec.deps === 'node') {
    const pkg = read('package.json');
    if (pkg === undefined) return false;
    try {
      const scripts = (JSON.parse(pkg) as { scripts?: Record<string, unknown> }).scripts ?? {};
      return !['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare'].some(
        (s) => s in scripts,
      );
    } catch {
      return false;
    }
  }
  return false;
}

function plainRequirement(line: string): boolean {
  if (line === '') return true;
  if (/^(-r|--requirement|-c|--constraint|-e|--editable|-f|--find-links)\b/.test(line)) return false;
  if (/file:/.test(line) || /^[./~]/.test(line)) return false;
  return !(line.includes('/') && !line.includes('://'));
}

/**
 * Copies the earlier release's installed dependencies of `spec` (its .venv, or node_modules)
 * into its cwd in the new release, in place of whatever the snapshot had there: a copy (links as
 * links, never followed; never a hard link, so neither release changes the other), run as the
 * app's user; a venv is then told its new path. False when the earlier release has none.
 */
export async function reuseDeps(spec: ServiceSpec, run: ReuseRun): Promise<boolean> {
  const dir = spec.deps === 'python' ? VENV_DIR : 'node_modules';
  const from = path.join(resolveUnder(run.from, spec.cwd), dir);
  const cwd = resolveUnder(run.to, spec.cwd);
  try {
    if (!lstatSync(from).isDirectory() || !lstatSync(cwd).isDirectory()) return false;
  } catch {
    return false;
  }
  const steps: (readonly string[])[] = [
    ['rm', '-rf', '--', dir],
    ['cp', '-R', '-P', '--preserve=mode,timestamps,links', '--reflink=auto', '--', from, dir],
  ];
  if (spec.deps === 'python') steps.push(['python3', '-c', VENV_MOVE, from, path.join(cwd, dir)]);
  for (const [i, argv] of steps.entries()) {
    const r = await runCommand(argv, {
      cwd: i < 2 ? cwd : path.join(cwd, dir),
      env: run.env,
      logFile: run.logFile,
      redact: run.redact,
      uid: run.user?.uid,
      gid: run.user?.gid,
    });
    if (r.code !== 0) return false;
  }
  return true;
}

/** A small regular file `name` of the release's `cwd`, reached through directory descriptors, links not followed. */
function readInRelease(releaseDir: string, cwd: string, name: string): string | undefined {
  const parts = path.posix
    .normalize(cwd)
    .split('/')
    .filter((p) => p !== '' && p !== '.');
  let d = DirHandle.openParent(releaseDir);
  for (const part of parts) {
    const next = d?.child(part);
    d?.close();
    d = next;
  }
  if (!d) return undefined;
  try {
    const fd = openSync(d.at(name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > READ_LIMIT) return undefined;
      const buf = Buffer.alloc(READ_LIMIT);
      return buf.subarray(0, readSync(fd, buf, 0, READ_LIMIT, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  } finally {
    d.close();
  }
}
