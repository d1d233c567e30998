import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Site } from '../edge/sites.js';

/**
 * One link per static service (BERTH_HOME/caddy/roots/<app>.<env>.<service>) to the release
 * serving now, swapped with a rename, so a deploy changes the files Caddy serves without
 * changing Caddy's config. A root with a symlink leading out of it is left to the builtin
 * proxy, which refuses such links (Caddy's file_server follows them).
 */
export class StaticRoots {
  readonly #dir: string;
  readonly #log: Logger;
  /** Static roots checked for symlinks that lead out of them (release dirs never change once made). */
  readonly #rootSafe = new Map<string, boolean>();

  constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  /** Points the links at the sites' roots; returns key -> link for the roots Caddy may serve. */
  link(sites: readonly Site[]): Map<string, string> {
    const links = new Map<string, string>();
    for (const r of sites.flatMap((s) => s.statics ?? [])) {
      if (links.has(r.key)) continue;
      if (!this.#safe(r.root)) {
        this.#log.warn(
          { root: r.root },
          'a symlink in this static directory leads out of it: the builtin proxy serves it instead of Caddy',
        );
        continue;
      }
      const link = path.join(this.#dir, r.key);
      mkdirSync(this.#dir, { recursive: true, mode: 0o755 });
      let current: string | undefined;
      try {
        current = readlinkSync(link);
      } catch {
        current = undefined;
      }
      if (current !== r.root) {
        const tmp = `${link}.${process.pid}.tmp`;
        rmSync(tmp, { force: true });
        symlinkSync(r.root, tmp);
        renameSync(tmp, link);
      }
      links.set(r.key, link);
    }
    return links;
  }

  /** Removes the links of services no longer served. */
  unlinkExcept(keep: ReadonlySet<string>): void {
    let names: string[];
    try {
      names = readdirSync(this.#dir);
    } catch {
      return;
    }
    for (const name of names) if (!keep.has(name)) rmSync(path.join(this.#dir, name), { force: true });
  }

  #safe(root: string): boolean {
    const known = this.#rootSafe.get(root);
    if (known !== undefined) return known;
    let safe = true;
    try {
      const real = realpathSync.native(root);
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          const full = path.join(d, e.name);
          if (e.isSymbolicLink()) {
            let target: string;
            try {
              target = realpathSync.native(full);
            } catch {
              safe = false; // dangling now, pointing anywhere later: Caddy (as root) would follow it
              return;
            }
            if (target !== real && !target.startsWith(real + path.sep)) safe = false;
          } else if (e.isDirectory()) walk(full);
          if (!safe) return;
        }
      };
      if (lstatSync(real).isDirectory()) walk(real);
    } catch {
      safe = true; // a missing root serves 404s either way
    }
    this.#rootSafe.set(root, safe);
    return safe;
  }
}
