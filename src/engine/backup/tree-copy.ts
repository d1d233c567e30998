import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { DirHandle } from '../../system/safe-tree.js';

const ENTRY = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A regular file read through its own descriptor (opened without following a link), written to `dest` (new). */
function copyFd(dir: DirHandle, name: string, dest: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(dir.at(name), ENTRY);
  } catch {
    return undefined; // a link swapped in (ELOOP), gone, or a socket: not copied
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    const out = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, st.mode & 0o777);
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let total = 0;
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; total += n) writeSync(out, buf, 0, n);
      return total;
    } finally {
      closeSync(out);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies the tree held open at `top` into `to` (made; berthd's own) without following any link:
 * directories entered through descriptors, links copied as links, regular files through their
 * own descriptors, anything else (FIFOs, sockets, devices) left out. `skip`: paths relative to
 * the top not copied.
 */
export function copyTree(
  top: DirHandle,
  to: string,
  skip: ReadonlySet<string>,
): { files: number; bytes: number; links: number } {
  const out = { files: 0, bytes: 0, links: 0 };
  mkdirSync(to, { recursive: true, mode: 0o700 });
  const walk = (dir: DirHandle, rel: string) => {
    for (const name of dir.names().sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip.has(r)) continue;
      const dest = path.join(to, r);
      const st = dir.lstat(name);
      if (st?.isDirectory()) {
        const sub = dir.child(name);
        if (!sub) continue;
        try {
          mkdirSync(dest, { mode: st.mode & 0o777 });
          walk(sub, r);
        } finally {
          sub.close();
        }
      } else if (st?.isSymbolicLink()) {
        symlinkSync(readlinkSync(dir.at(name)), dest);
        out.links++;
      } else if (st?.isFile()) {
        const n = copyFd(dir, name, dest);
        if (n === undefined) continue;
        out.files++;
        out.bytes += n;
      }
    }
  };
  walk(top, '');
  return out;
}

/** Files, links and bytes of a tree of berthd's own (a staged dump, a restored snapshot); links not followed. */
export function treeStats(root: string): { files: number; bytes: number; links: number } {
  const out = { files: 0, bytes: 0, links: 0 };
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) out.links++;
      else if (st.isFile()) {
        out.files++;
        out.bytes += st.size;
      }
    }
  };
  walk(root);
  return out;
}
