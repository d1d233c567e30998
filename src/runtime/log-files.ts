import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** The last `lines` lines of a file (reads at most `maxBytes` from its end). */
export function tailLines(file: string, lines: number, maxBytes = 256 * 1024): string[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = statSync(file).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const all = buf.toString('utf8').split('\n');
    if (all[all.length - 1] === '') all.pop();
    if (len < size) all.shift(); // cut in the middle: a piece of a line is no line (and no piece of a secret shows)
    return lines <= 0 ? [] : all.slice(-lines);
  } finally {
    closeSync(fd);
  }
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
