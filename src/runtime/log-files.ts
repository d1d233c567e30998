import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** How many rotated files (`<file>.1` the newest, as the log writer names them) a tail looks into at most. */
const ROTATED_LOOKED_AT = 2;

/**
 * The last `maxBytes` of a regular file as lines; undefined when it is missing, a link or not a file (the app's
 * user may own a log's files: none is followed). `whole`: nothing of the file was left out.
 */
function fileTail(file: string, maxBytes: number): { lines: string[]; bytes: number; whole: boolean } | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    const len = Math.min(st.size, maxBytes);
    const buf = Buffer.alloc(len);
    const n = readSync(fd, buf, 0, len, st.size - len);
    const all = buf.toString('utf8', 0, n).split('\n');
    if (all[all.length - 1] === '') all.pop();
    if (len < st.size) all.shift(); // cut in the middle: a piece of a line is no line (and no piece of a secret shows)
    return { lines: all, bytes: n, whole: len === st.size };
  } finally {
    closeSync(fd);
  }
}

/**
 * The last `lines` lines of a log (reading at most `maxBytes`): its file, and when that holds fewer because it was
 * just rotated, the newest rotated files before it. The log writer rotates between lines, so a file's first line is
 * whole.
 */
export function tailLines(file: string, lines: number, maxBytes = 256 * 1024): string[] {
  if (lines <= 0) return [];
  let out: string[] = [];
  let budget = maxBytes;
  for (let i = 0; i <= ROTATED_LOOKED_AT && out.length < lines && budget > 0; i++) {
    const tail = fileTail(i === 0 ? file : `${file}.${i}`, budget);
    if (!tail) break;
    out = tail.lines.concat(out);
    budget -= tail.bytes;
    if (!tail.whole) break; // what came before this file is beyond the budget
  }
  return out.slice(-lines);
}

/** Reads bytes appended after `offset`; returns them and the new offset (handles truncation). */
export function readFrom(file: string, offset: number): { text: string; offset: number } {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return { text: '', offset };
  }
  if (size < offset) offset = 0;
  if (size === offset) return { text: '', offset };
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(size - offset, 1024 * 1024));
    const n = readSync(fd, buf, 0, buf.length, offset);
    return { text: buf.subarray(0, n).toString('utf8'), offset: offset + n };
  } finally {
    closeSync(fd);
  }
}

/** Current size of a file, 0 when it does not exist. */
export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
