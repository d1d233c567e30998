import { closeSync, constants, lstatSync, openSync, readdirSync, readSync } from 'node:fs';
import path from 'node:path';
import type { DepsKind, Manifest, ServiceSpec } from '../../config/manifest-types.js';
import { runCommand } from '../../system/command.js';
import type { SourceSpec } from './source.js';

/** What a directory of the source holds, by name: a regular file, or something else (a directory, a link). */
type Listing = ReadonlyMap<string, 'file' | 'other'>;

const READ_LIMIT = 256 * 1024;

/**
 * The manifest with each process service's `deps: auto` resolved from what its cwd holds in
 * the source (the working tree, or the ref's commit): `python` for requirements.txt or
 * pyproject.toml with [project] dependencies, `node` for package.json with a lockfile and no
 * `build:` (a build of the author's installs them itself), else `none`. Decided before the plan,
 * so the plan knows whether the release is built; the build step checks the release again.
 */
export async function resolveDeps(manifest: Manifest, source: SourceSpec): Promise<Manifest> {
  if (!manifest.services.some((s) => s.deps === 'auto')) return manifest;
  const services: ServiceSpec[] = [];
  for (const s of manifest.services) {
    services.push(s.deps === 'auto' ? { ...s, deps: await detect(s, source) } : s);
  }
  return { ...manifest, services };
}

async function detect(spec: ServiceSpec, source: SourceSpec): Promise<DepsKind> {
  const files = source.ref === undefined ? listTree(source.dir, spec.cwd) : await listRef(source, spec.cwd);
  if (files.get('requirements.txt') === 'file') return 'python';
  if (files.get('pyproject.toml') === 'file') {
    const text =
      source.ref === undefined
        ? readTreeFile(source.dir, spec.cwd, 'pyproject.toml')
        : await readRef(source, spec.cwd, 'pyproject.toml');
    if (text !== undefined && hasProjectDependencies(text)) return 'python';
  }
  const lock = files.get('package-lock.json') === 'file' || files.get('npm-shrinkwrap.json') === 'file';
  if (spec.build.length === 0 && files.get('package.json') === 'file' && lock) return 'node';
  return 'none';
}

/** True when pyproject.toml's [project] table has a non-empty `dependencies` array. */
export function hasProjectDependencies(toml: string): boolean {
  const section = /^\[project\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(toml)?.[1] ?? '';
  const deps = /^dependencies\s*=\s*\[([\s\S]*?)\]/m.exec(section)?.[1];
  return deps !== undefined && /["']/.test(deps.replace(/#.*$/gm, ''));
}

/** The entries of `root/rel`, reached without following a link (none when a part of the path is one). */
function listTree(root: string, rel: string): Listing {
  const dir = realDir(root, rel);
  if (dir === undefined) return new Map();
  return new Map(readdirSync(dir, { withFileTypes: true }).map((e) => [e.name, e.isFile() ? 'file' : 'other']));
}

function realDir(root: string, rel: string): string | undefined {
  let dir = root;
  for (const part of path
    .normalize(rel)
    .split(path.sep)
    .filter((p) => p && p !== '.')) {
    if (part === '..') return undefined;
    dir = path.join(dir, part);
    try {
      if (!lstatSync(dir).isDirectory()) return undefined;
    } catch {
      return undefined;
    }
  }
  return dir;
}

/** The start of a regular file of the working tree, opened without following a link. */
function readTreeFile(root: string, rel: string, name: string): string | undefined {
  const dir = realDir(root, rel);
  if (dir === undefined) return undefined;
  let fd: number;
  try {
    fd = openSync(path.join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(READ_LIMIT);
    return buf.subarray(0, readSync(fd, buf, 0, READ_LIMIT, 0)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

async function listRef(source: SourceSpec, rel: string): Promise<Listing> {
  const dir = rel === '.' ? './' : `./${path.normalize(rel)}/`;
  const r = await runCommand(['git', '-C', source.dir, 'ls-tree', '-z', source.ref as string, '--', dir]);
  const entries = new Map<string, 'file' | 'other'>();
  if (r.code !== 0) return entries;
  for (const line of r.stdout.split('\0').filter(Boolean)) {
    const [meta, name] = line.split('\t') as [string, string];
    entries.set(path.basename(name), /^100(644|755) blob /.test(meta) ? 'file' : 'other');
  }
  return entries;
}

async function readRef(source: SourceSpec, rel: string, name: string): Promise<string | undefined> {
  const r = await runCommand(['git', '-C', source.dir, 'cat-file', 'blob', `${source.ref}:./${path.join(rel, name)}`]);
  return r.code === 0 ? r.stdout.slice(0, READ_LIMIT) : undefined;
}
