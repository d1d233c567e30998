import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BerthError } from '../core/errors.js';

/** The most an imported file (ecosystem, Procfile, unit, nginx conf, env file) may weigh: 4 MiB. */
const MAX_BYTES = 4 * 1024 * 1024;

/** A file the user named, read as text; a clear error naming it when it cannot be. */
export function readLocalFile(file: string, what: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BerthError(
      'invalid',
      'import_missing',
      `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code}`,
      {
        hint: `give the path of ${what}`,
      },
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new BerthError('invalid', 'import_not_file', `${file} is not a file`, { hint: `give the path of ${what}` });
    if (st.size > MAX_BYTES)
      throw new BerthError('invalid', 'import_too_big', `${file} is ${st.size} bytes, over the 4 MiB an import reads`, {
        hint: `give the path of ${what}`,
      });
    const buf = Buffer.alloc(st.size);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Like readLocalFile, null when it cannot be read (an optional file, e.g. an EnvironmentFile). */
export function readIfPresent(file: string): string | null {
  try {
    return readLocalFile(file, 'a file');
  } catch {
    return null;
  }
}
