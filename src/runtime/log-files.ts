import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';

/** How many rotated files (`<file>.1` the newest, as the log writer names them) a tail looks into at most. */
const ROTATED_LOOKED_AT = 2;

/**
 * A log's file opened for reading with its stat, or undefined when it is missing, a link or not a regular file: the
 * app's user may own a log's files, so none is followed (O_NOFOLLOW, then fstat of what was opened). Close the fd.
 */
function openRegular(file: string): { fd: number; st: Stats } | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return { fd, st };
  } catch {
    // as a missing file
  }
  closeSync(fd);
  return undefined;
}

/** The last `maxBytes` of a log's file as lines (openRegular). `whole`: nothing of the file was left out. */
function fileTail(file: string, maxBytes: number): { lines: string[]; bytes: number; whole: boolean } | undefined {
  const opened = openRegular(file);
  if (!opened) return undefined;
  const { fd, st } = opened;
  try {
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

/** Reads bytes appended after `offset`; returns them and the new offset (handles truncation). No link is followed. */
export function readFrom(file: string, offset: number): { text: string; offset: number } {
  const opened = openRegular(file);
  if (!opened) return { text: '', offset };
  const { fd, st } = opened;
  try {
    if (st.size < offset) offset = 0;
    if (st.size === offset) return { text: '', offset };
    const buf = Buffer.alloc(Math.min(st.size - offset, 1024 * 1024));
    const n = readSync(fd, buf, 0, buf.length, offset);
    return { text: buf.subarray(0, n).toString('utf8'), offset: offset + n };
  } finally {
    closeSync(fd);
  }
}

/** Current size of a log's file; 0 when it does not exist or is a link or not a regular file. */
export function fileSize(file: string): number {
  try {
    const st = lstatSync(file);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}
