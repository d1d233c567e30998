import { closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Writes `text` to `file` without following a link there: a new file is created with O_EXCL
 * (which refuses any existing entry, a link included); with `force`, a temporary file beside
 * it is renamed over it, which replaces a link itself instead of writing where it points.
 */
export function writeNewFile(file: string, text: string, force: boolean): void {
  if (!force) {
    try {
      writeFd(openSync(file, CREATE, 0o644), text);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw cannot(file, err);
      throw new BerthError('conflict', 'file_exists', `${file} exists already`, {
        hint: 'pass --force to replace it, or --out another file',
      });
    }
    return;
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFd(openSync(tmp, CREATE, 0o644), text);
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // not made
    }
    throw cannot(file, err);
  }
}

function writeFd(fd: number, text: string): void {
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function cannot(file: string, err: unknown): BerthError {
  return new BerthError('failed', 'write_failed', `cannot write ${file}: ${(err as NodeJS.ErrnoException).code}`, {
    hint: 'check the directory exists and that you may write there',
  });
}
