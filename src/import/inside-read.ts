import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { DirHandle } from '../system/safe-tree.js';

export type InsideRead =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly missing: boolean; readonly why: string };

/** The most a file read next to a compose file (env_file, .env) may weigh: 1 MiB. */
export const INSIDE_MAX_BYTES = 1024 * 1024;

const FILE = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Reads `rel` (relative to `dir`, or absolute) only if it lies inside `dir` and no part of it
 * below `dir` is a link: each directory is opened through its parent's descriptor without
 * following links, and the file itself with O_NOFOLLOW. A compose file may name any path; only
 * what belongs to its project is read.
 */
export function readInside(dir: string, rel: string): InsideRead {
  const relative = path.normalize(path.isAbsolute(rel) ? path.relative(dir, rel) : rel);
  if (relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative))
    return refused(`${rel} is outside the compose file's directory; only files inside it are read`);
  const parts = relative.split(path.sep).filter((p) => p !== '' && p !== '.');
  const name = parts.pop();
  if (name === undefined) return refused(`${rel} is a directory, not a file`);
  let d = DirHandle.openParent(dir);
  if (!d) return { ok: false, missing: true, why: "the compose file's directory cannot be opened" };
  try {
    for (const part of parts) {
      const problem = kindProblem(d, part, 'dir', rel);
      if (problem) return problem;
      const child = d.child(part);
      d.close();
      if (!child) return refused(`${rel}: ${part} changed while it was read`);
      d = child;
    }
    const problem = kindProblem(d, name, 'file', rel);
    return problem ?? readFd(d.at(name), rel);
  } finally {
    d.close();
  }
}

function kindProblem(d: DirHandle, name: string, want: 'dir' | 'file', rel: string): InsideRead | undefined {
  const st = d.lstat(name);
  if (!st) return { ok: false, missing: true, why: `${rel}: no such file` };
  if (st.isSymbolicLink()) return refused(`${rel}: ${name} is a link; links are not followed`);
  if (want === 'dir' && !st.isDirectory()) return refused(`${rel}: ${name} is not a directory`);
  if (want === 'file' && !st.isFile()) return refused(`${rel} is not a regular file`);
  return undefined;
}

function readFd(p: string, rel: string): InsideRead {
  let fd: number;
  try {
    fd = openSync(p, FILE);
  } catch (err) {
    return refused(`${rel}: cannot open (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return refused(`${rel} is not a regular file`);
    if (st.size > INSIDE_MAX_BYTES) return refused(`${rel} is ${st.size} bytes, over the 1 MiB read here`);
    const buf = Buffer.alloc(st.size);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return { ok: true, text: buf.subarray(0, n).toString('utf8') };
  } finally {
    closeSync(fd);
  }
}

function refused(why: string): InsideRead {
  return { ok: false, missing: false, why };
}
