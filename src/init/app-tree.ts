import path from 'node:path';
import { readInside } from '../import/inside-read.js';
import { DirHandle } from '../system/safe-tree.js';

/** Directories a source scan never enters: dependencies, builds, caches, VCS. */
const SKIP = new Set([
  ...['node_modules', '.git', '.hg', 'venv', '.venv', 'env', '__pycache__', '.next', '.nuxt', '.cache'],
  ...['dist', 'build', 'out', 'coverage', 'site-packages', '.tox', '.mypy_cache', '.pytest_cache'],
]);
/** The most source files a scan reads, and how deep it goes: init looks, it does not index. */
const MAX_SOURCES = 400;
const MAX_DEPTH = 4;

export type EntryKind = 'file' | 'dir' | 'link' | 'other';

/**
 * The app directory `berth init` looks at, read without following links: every directory below
 * the root is opened through its parent's descriptor with O_NOFOLLOW, files are read the same way
 * (import/inside-read), and a link is reported as a link, never read through. The links met are
 * kept in `links` so init can say what it did not look at.
 */
export class AppTree {
  readonly links = new Set<string>();

  constructor(readonly root: string) {}

  /** The entries of directory `rel` ('' is the root), sorted by name; empty when it is not a directory. */
  list(rel = ''): { name: string; kind: EntryKind }[] {
    return (
      this.#withDir(rel, (d) =>
        d
          .names()
          .sort()
          .map((name) => {
            const st = d.lstat(name);
            const kind: EntryKind = !st
              ? 'other'
              : st.isSymbolicLink()
                ? 'link'
                : st.isDirectory()
                  ? 'dir'
                  : st.isFile()
                    ? 'file'
                    : 'other';
            if (kind === 'link') this.links.add(path.posix.join(rel, name));
            return { name, kind };
          }),
      ) ?? []
    );
  }

  kind(rel: string): EntryKind | null {
    const parent = path.posix.dirname(rel);
    return this.list(parent === '.' ? '' : parent).find((e) => e.name === path.posix.basename(rel))?.kind ?? null;
  }

  isFile(rel: string): boolean {
    return this.kind(rel) === 'file';
  }

  isDir(rel: string): boolean {
    return this.kind(rel) === 'dir';
  }

  /** A file's text, or null when it is missing, a link (or under one), not a regular file, or over 1 MiB. */
  read(rel: string): string | null {
    const r = readInside(this.root, rel);
    if (!r.ok && !r.missing && /is a link/.test(r.why)) this.links.add(rel);
    return r.ok ? r.text : null;
  }

  /** Source files (by extension) below the root, skipping dependencies and builds; at most MAX_SOURCES. */
  sources(exts: readonly string[]): string[] {
    const out: string[] = [];
    const walk = (rel: string, depth: number) => {
      for (const e of this.list(rel)) {
        if (out.length >= MAX_SOURCES) return;
        const p = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.kind === 'dir' && depth < MAX_DEPTH && !SKIP.has(e.name) && !e.name.startsWith('.')) walk(p, depth + 1);
        else if (e.kind === 'file' && exts.some((x) => e.name.endsWith(x))) out.push(p);
      }
    };
    walk('', 0);
    return out;
  }

  #withDir<T>(rel: string, fn: (d: DirHandle) => T): T | undefined {
    const top = DirHandle.openParent(this.root);
    if (!top) return undefined;
    let d: DirHandle = top;
    try {
      for (const part of rel.split('/').filter((p) => p !== '' && p !== '.')) {
        const child: DirHandle | undefined = d.child(part);
        if (!child) return undefined;
        d.close();
        d = child;
      }
      return fn(d);
    } finally {
      d.close();
    }
  }
}
