import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  lchownSync,
  lstatSync,
  openSync,
  readdirSync,
  rmdirSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';

/*
 * Walking a tree an app could write, as root, without ever following a link.
 *
 * Node has no openat/fchownat/unlinkat, but Linux gives the same thing through
 * /proc/self/fd/<fd>/<name>: the kernel resolves /proc/self/fd/<fd> to the very directory
 * the descriptor was opened on (wherever it has been renamed to since) and then looks up
 * <name> in it, so every call on such a path is the *at() call on that descriptor. Each
 * directory is opened with O_DIRECTORY|O_NOFOLLOW through its parent's descriptor, each
 * entry is acted on through its own descriptor (fchown, fchmod) or by name in its parent
 * (lchown, unlink, rmdir: none of them follows a final link), and nothing is ever reached
 * through a path an app could have changed. A process of the app may still rename, swap
 * or add entries while a walk runs; then the walk acts on what it finds in the directory
 * it holds open: the residual race decides only *which* entry of the tree is acted on, never
 * whether one outside it is. (The app may also move a directory of its own that berthd holds
 * open to somewhere else it may write, like /tmp: berthd then acts on entries the app made,
 * which are links, never followed, or its own files; a file of someone else's hard-linked in
 * is never chowned, see chownTree.) Only the top path's parents are resolved by path: they are
 * berthd's own (BERTH_HOME and the root-owned directories below it). One descriptor is held
 * per level of depth.
 */

const DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
// O_NONBLOCK: opening a FIFO the app made must not wait for a writer (and freeze berthd).
const ENTRY = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** A directory held open by descriptor: its entries are reached through it, never by a path. */
export class DirHandle {
  readonly fd: number;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Opens `p` if it is a directory and not a link; undefined when it is missing, a link or not a directory. */
  static open(p: string): DirHandle | undefined {
    return DirHandle.#open(p, DIR);
  }

  /** The directory a walk starts in: berthd's own (BERTH_HOME may itself be a link, e.g. to another disk). */
  static openParent(p: string): DirHandle | undefined {
    return DirHandle.#open(p, DIR & ~constants.O_NOFOLLOW);
  }

  static #open(p: string, flags: number): DirHandle | undefined {
    try {
      return new DirHandle(openSync(p, flags));
    } catch (err) {
      if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(code(err) ?? '')) return undefined;
      throw err;
    }
  }

  /** The path of entry `name` of this directory as the kernel finds it through the descriptor (`*at()`). */
  at(name: string): string {
    return `/proc/self/fd/${this.fd}/${name}`;
  }

  /** The directory's entries (without . and ..). */
  names(): string[] {
    return readdirSync(`/proc/self/fd/${this.fd}`);
  }

  /** The entry itself (a link's own stats), or undefined when it is gone. */
  lstat(name: string): Stats | undefined {
    try {
      return lstatSync(this.at(name));
    } catch (err) {
      if (code(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Entry `name` as a directory held open, or undefined when it is missing, a link or anything else. */
  child(name: string): DirHandle | undefined {
    return DirHandle.#open(this.at(name), DIR);
  }

  stat(): Stats {
    return fstatSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Runs `fn` with `p` open as a directory (not followed if a link); nothing when it is not one. */
export function withDir<T>(p: string, fn: (d: DirHandle) => T): T | undefined {
  const d = DirHandle.open(p);
  if (!d) return undefined;
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

/** The owner and mode a tree walk gives each entry it meets. */
export interface OwnerChange {
  readonly uid: number;
  readonly gid: number;
  /** The new mode from the current one; `top` is the tree's own directory. */
  mode(current: number, isDir: boolean, top: boolean): number;
  /** `pre`: each directory before its entries (taking a tree back); `post`: its entries first (giving one away). */
  readonly order: 'pre' | 'post';
}

/**
 * Gives every entry of the tree at `root` the owner and mode of `change`, following no link:
 * a link gets the owner itself (never its target), and is never entered. A regular file with
 * more than one name is left alone unless berthd or the new owner has it already (an app
 * cannot make a file of someone else's its own by linking it in). Nothing when `root` is missing.
 */
export function chownTree(root: string, change: OwnerChange): void {
  const parent = DirHandle.openParent(path.dirname(root));
  if (!parent) return;
  try {
    chownEntry(parent, path.basename(root), change, true, true);
  } finally {
    parent.close();
  }
}

/** chownTree for `p` alone (not what is in it). */
export function chownPath(p: string, change: Omit<OwnerChange, 'order'>): void {
  const parent = DirHandle.openParent(path.dirname(p));
  if (!parent) return;
  try {
    chownEntry(parent, path.basename(p), { ...change, order: 'pre' }, true, false);
  } finally {
    parent.close();
  }
}

function chownEntry(parent: DirHandle, name: string, change: OwnerChange, top: boolean, deep: boolean): void {
  // Twice at most: an entry swapped from a file to a directory between the two opens is looked at again.
  for (let attempt = 0; attempt < 2; attempt++) {
    const dir = parent.child(name);
    if (dir) {
      try {
        if (change.order === 'pre') apply(dir.fd, change, top);
        if (deep) for (const n of dir.names()) chownEntry(dir, n, change, false, true);
        if (change.order === 'post') apply(dir.fd, change, top);
      } finally {
        dir.close();
      }
      return;
    }
    if (chownNonDir(parent, name, change)) return;
  }
}

/** An entry that is not a directory, through its own descriptor; false when it turned out to be one. */
function chownNonDir(parent: DirHandle, name: string, change: OwnerChange): boolean {
  let fd: number;
  try {
    fd = openSync(parent.at(name), ENTRY);
  } catch (err) {
    if (code(err) === 'ENOENT') return true;
    if (code(err) !== 'ELOOP' && code(err) !== 'ENXIO') throw err;
    // A link (ELOOP) or a socket (ENXIO): the entry itself, by name in the directory held open.
    try {
      lchownSync(parent.at(name), change.uid, change.gid);
    } catch (e) {
      if (code(e) !== 'ENOENT') throw e;
    }
    return true;
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return false; // swapped in since: entered only through O_DIRECTORY|O_NOFOLLOW
    if (st.isFile() && st.nlink > 1 && st.uid !== change.uid && st.uid !== 0) return true;
    apply(fd, change, false, st);
    return true;
  } finally {
    closeSync(fd);
  }
}

function apply(fd: number, change: OwnerChange, top: boolean, st: Stats = fstatSync(fd)): void {
  fchownSync(fd, change.uid, change.gid);
  if (st.isFile() || st.isDirectory()) fchmodSync(fd, change.mode(st.mode & 0o7777, st.isDirectory(), top));
}

/**
 * Deletes the tree at `p` (a file or a link: just that name), following no link: every
 * directory is emptied through its descriptor and removed by name in its parent. Nothing
 * when `p` is missing (like `rm -rf`). Fails, saying so, if something keeps writing in it.
 */
export function removeTree(p: string): void {
  const parent = DirHandle.openParent(path.dirname(p));
  if (!parent) return;
  try {
    removeEntry(parent, path.basename(p), p);
  } finally {
    parent.close();
  }
}

function removeEntry(parent: DirHandle, name: string, shown: string): void {
  for (let attempt = 0; attempt < 10; attempt++) {
    const dir = parent.child(name);
    if (!dir) {
      try {
        unlinkSync(parent.at(name)); // a file, a link (the link itself) or anything but a directory
        return;
      } catch (err) {
        if (code(err) === 'ENOENT') return;
        if (code(err) !== 'EISDIR' && code(err) !== 'EPERM') throw err;
        continue; // a directory appeared under that name: open it
      }
    }
    try {
      for (const n of dir.names()) removeEntry(dir, n, path.join(shown, n));
    } finally {
      dir.close();
    }
    try {
      rmdirSync(parent.at(name));
      return;
    } catch (err) {
      if (code(err) === 'ENOENT') return;
      if (!['ENOTEMPTY', 'EEXIST', 'ENOTDIR'].includes(code(err) ?? '')) throw err;
      // written to (or swapped) while it was emptied: again
    }
  }
  throw new BerthError('failed', 'remove_busy', `cannot remove ${shown}: something keeps writing in it`, {
    hint: "stop what still runs as the app's user (see berth ps), then try again",
  });
}
