import { spawn } from 'node:child_process';
import {
  closeSync,
  constants,
  copyFileSync,
  createReadStream,
  existsSync,
  fchownSync,
  mkdirSync,
  openSync,
  renameSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { UnixIds } from '../../system/users.js';
import { chownPath } from '../../system/safe-tree.js';

/**
 * A directory of the database's own, made if missing and given to `ids` (0700), its parent
 * existing. Never through a link (see safe-tree): the directory may be in one the app writes.
 */
export function ownDir(dir: string, ids: UnixIds | undefined): void {
  if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
  chownPath(dir, {
    uid: ids?.uid ?? process.getuid?.() ?? 0,
    gid: ids?.gid ?? process.getgid?.() ?? 0,
    mode: () => 0o700,
  });
}

/** A new file (never a link followed, never one that exists: O_EXCL) written, given to `ids`, 0600. */
export function newFile(file: string, ids: UnixIds | undefined, text: string): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    if (ids) fchownSync(fd, ids.uid, ids.gid);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** A copy of berthd's file `src` as the new file `dest` (never a link followed, never one that exists), given to `ids`, 0600. */
export function copyInto(src: string, dest: string, ids: UnixIds | undefined): void {
  copyFileSync(src, dest, constants.COPYFILE_EXCL);
  chownPath(dest, {
    uid: ids?.uid ?? process.getuid?.() ?? 0,
    gid: ids?.gid ?? process.getgid?.() ?? 0,
    mode: () => 0o600,
  });
}

/** Replaces `file` with `text` atomically (a new temporary file renamed over it). */
export function replaceFile(file: string, ids: UnixIds | undefined, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    newFile(tmp, ids, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // a leftover of a berthd killed in the middle: renamed away, then written anew
    renameSync(tmp, `${tmp}.old`);
    newFile(tmp, ids, text);
  }
  renameSync(tmp, file);
}

/**
 * Runs `argv` as `ids` with `env` (never berthd's own: a password goes in through it, not
 * through argv, which every user can read in /proc), its stdout into the new file `out` when
 * given, or to `onStdout`; its stdin the file `input`, streamed by berthd (opened without
 * following a link; through a pipe, so the tool needs no access to the file or its directory). Resolves with its exit code and
 * the end of its stderr.
 */
export function runTool(
  argv: readonly string[],
  o: {
    ids: UnixIds | undefined;
    env: Record<string, string>;
    out?: string;
    /** Who the file `out` belongs to (default `ids`). */
    outOwner?: UnixIds | undefined;
    timeoutMs?: number;
    input?: string;
    onStdout?: (chunk: Buffer) => void;
  },
): Promise<{ code: number | null; stderr: string }> {
  const fd =
    o.out === undefined
      ? undefined
      : openSync(o.out, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  const owner = o.outOwner ?? o.ids;
  if (fd !== undefined && owner) fchownSync(fd, owner.uid, owner.gid);
  let inFd: number | undefined;
  try {
    if (o.input !== undefined) inFd = openSync(o.input, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    throw err;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      env: o.env,
      shell: false,
      cwd: '/',
      stdio: [inFd === undefined ? 'ignore' : 'pipe', fd ?? (o.onStdout ? 'pipe' : 'ignore'), 'pipe'],
      ...(o.ids ? { uid: o.ids.uid, gid: o.ids.gid } : {}),
    });
    if (fd !== undefined) closeSync(fd);
    if (inFd !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // the tool may stop reading early: its exit code tells
      createReadStream('', { fd: inFd }).pipe(child.stdin);
    } else if (inFd !== undefined) closeSync(inFd);
    if (o.onStdout) child.stdout?.on('data', o.onStdout);
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30 * 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr: stderr.trim() });
    });
  });
}
