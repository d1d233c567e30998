import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ServiceSpec } from '../../config/manifest-types.js';
import { MANIFEST_FILE } from '../../config/manifest-basics.js';
import { needsBuild } from '../../core/deploy-plan.js';

/**
 * What a build cache entry covers: the services that build in one directory tree of the
 * release (`root`, relative to it). Services whose cwds nest share one unit, rooted at the
 * outermost, since one's build may change the other's files.
 */
export interface BuildUnit {
  readonly root: string;
  readonly services: readonly ServiceSpec[];
}

/** The build units of the services that build (commands or dependencies), in manifest order of their first service. */
export function buildUnits(services: readonly ServiceSpec[]): BuildUnit[] {
  const units: { root: string; services: ServiceSpec[] }[] = [];
  for (const s of services.filter(needsBuild)) {
    const cwd = normal(s.cwd);
    const overlapping = units.filter((u) => within(cwd, u.root) || within(u.root, cwd));
    const merged = {
      root: overlapping.reduce((r, u) => (within(r, u.root) ? u.root : r), cwd),
      services: [...overlapping.flatMap((u) => u.services), s],
    };
    units.splice(0, units.length, ...units.filter((u) => !overlapping.includes(u)), merged);
  }
  const order = (s: ServiceSpec) => services.indexOf(s);
  return units
    .map((u) => ({ root: u.root, services: u.services.sort((a, b) => order(a) - order(b)) }))
    .sort((a, b) => order(a.services[0] as ServiceSpec) - order(b.services[0] as ServiceSpec));
}

/**
 * A digest per file of a fresh release, taken right after the snapshot while the release is
 * berthd's alone (before the app's user may build in it): paths, modes, contents; links as
 * their text, never followed.
 */
export function releaseFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
      else {
        const body = st.isSymbolicLink() ? readlinkSync(path.join(dir, r)) : readFileSync(path.join(dir, r));
        files.set(
          r,
          createHash('sha256')
            .update(`${st.mode & 0o777}\0`)
            .update(body)
            .digest('hex'),
        );
      }
    }
  };
  walk('');
  return files;
}

/**
 * The digest of a unit's inputs: the files under its root, and those outside it that lie in no
 * other service's cwd (shared code at the top of the app), but berth.yaml (outside the root its parts
 * that matter, each service's cwd, build commands, deps and env, are hashed as such); then the build's
 * environment (`env`: PATH, HOME, secrets) and the host's python3 and node found on PATH.
 */
export function unitKey(
  unit: BuildUnit,
  all: readonly ServiceSpec[],
  files: ReadonlyMap<string, string>,
  env: Readonly<Record<string, string>>,
): string {
  const others = all.map((s) => normal(s.cwd)).filter((c) => !within(c, unit.root) && !within(unit.root, c));
  const hash = createHash('sha256').update(`berth-build-1\0${unit.root}\0`);
  for (const s of unit.services)
    hash.update(JSON.stringify({ name: s.name, cwd: s.cwd, build: s.build, deps: s.deps, env: s.env }));
  hash.update(JSON.stringify(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : 1))));
  hash.update(JSON.stringify(['python3', 'node'].map((p) => toolStamp(p, env.PATH ?? ''))));
  for (const [rel, digest] of files) {
    if ((rel === MANIFEST_FILE && unit.root !== '.') || others.some((c) => within(rel, c))) continue;
    hash.update(`${rel}\0${digest}\0`);
  }
  return hash.digest('hex');
}

/** A cwd as units compare them: "a/./b/" is "a/b", "./" is ".". */
function normal(cwd: string): string {
  return path.posix.normalize(cwd).replace(/\/$/, '') || '.';
}

/** True when `p` is `dir` or below it (both relative, normalised; "." holds everything). */
export function within(p: string, dir: string): boolean {
  return dir === '.' || p === dir || p.startsWith(dir + '/');
}

/** Which program `name` on PATH is (its real path, size and time): an upgraded toolchain rebuilds. */
export function toolStamp(name: string, PATH: string): string {
  for (const dir of PATH.split(':').filter(Boolean)) {
    try {
      const st = statSync(path.join(dir, name));
      if (st.isFile()) return `${path.join(dir, name)}:${st.size}:${st.mtimeMs}`;
    } catch {
      // not in this directory
    }
  }
  return `${name}:none`;
}
