import { closeSync, constants, fstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { Readable } from 'node:stream';
import { DirHandle } from '../system/safe-tree.js';
import type { DockerIgnore } from './dockerignore.js';

const BLOCK = 512;
const CHUNK = 64 * 1024;
/** The largest size the header's 11 octal digits hold (8 GiB - 1); past it, a pax record carries it. */
const MAX_OCTAL_SIZE = 0o77777777777;
const FILE = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A build context as a tar stream (ustar, with pax records for long names), made from a
 * directory of a release snapshot without following any link: directories are opened through
 * their parent's descriptor with O_NOFOLLOW, files with O_NOFOLLOW, and a link is stored as a
 * link (its target text), never read through. What the engine gets is only what the directory
 * holds. FIFOs, sockets and devices are left out, and what the context's .dockerignore excludes.
 * Entries are sorted, owners are 0:0.
 */
export function contextTar(dir: DirHandle, opts: ContextOptions = {}): Readable {
  return Readable.from(entries(dir, opts), { objectMode: false });
}

export interface ContextOptions {
  /** The context's .dockerignore: what it excludes is left out. */
  readonly ignore?: DockerIgnore;
  /** Paths sent whatever .dockerignore says (the Dockerfile, as the Docker CLI does). */
  readonly keep?: readonly string[];
}

async function* entries(dir: DirHandle, opts: ContextOptions): AsyncGenerator<Buffer> {
  yield* walk(dir, '', opts);
  yield Buffer.alloc(BLOCK * 2);
}

async function* walk(dir: DirHandle, prefix: string, opts: ContextOptions): AsyncGenerator<Buffer> {
  const keep = opts.keep ?? [];
  for (const name of dir.names().sort()) {
    const st = dir.lstat(name);
    if (!st) continue;
    const path = prefix + name;
    const excluded = (opts.ignore?.excludes(path) ?? false) && !keep.includes(path);
    if (st.isDirectory()) {
      // An excluded directory is still walked when an exception or a kept path may lie inside it.
      if (excluded && !opts.ignore?.hasExceptions && !keep.some((k) => k.startsWith(`${path}/`))) continue;
      const child = dir.child(name);
      if (!child) continue;
      try {
        if (!excluded) yield header(`${path}/`, st, '5', 0);
        yield* walk(child, `${path}/`, opts);
      } finally {
        child.close();
      }
    } else if (excluded) continue;
    else if (st.isSymbolicLink()) yield header(path, st, '2', 0, readlinkSync(dir.at(name)));
    else if (st.isFile()) yield* file(dir.at(name), path);
  }
}

/** A small regular file of `dir` (at most 1 MiB), read without following a link; undefined when there is none. */
export function readSmallFile(dir: DirHandle, name: string): string | undefined {
  if (!dir.lstat(name)?.isFile()) return undefined;
  const fd = openSync(dir.at(name), FILE);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 1024 * 1024) return undefined;
    const buf = Buffer.alloc(st.size);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

async function* file(at: string, path: string): AsyncGenerator<Buffer> {
  let fd: number;
  try {
    fd = openSync(at, FILE);
  } catch {
    return; // replaced by a link or removed since it was listed: left out
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return;
    yield header(path, st, '0', st.size);
    let left = st.size;
    while (left > 0) {
      const buf = Buffer.alloc(Math.min(CHUNK, left));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) {
        yield Buffer.alloc(left); // shrank while read: the header's size is kept, zeros fill it
        break;
      }
      left -= n;
      yield buf.subarray(0, n);
    }
    const pad = st.size % BLOCK;
    if (pad > 0) yield Buffer.alloc(BLOCK - pad);
  } finally {
    closeSync(fd);
  }
}

/** One entry's header block, preceded by a pax header when the name or link target is long. */
function header(path: string, st: Stats, type: '0' | '2' | '5', size: number, link = ''): Buffer {
  const pax: string[] = [];
  if (Buffer.byteLength(path) > 100) pax.push(record('path', path));
  if (Buffer.byteLength(link) > 100) pax.push(record('linkpath', link));
  if (size > MAX_OCTAL_SIZE) pax.push(record('size', String(size)));
  const mtime = Math.floor(st.mtimeMs / 1000);
  const block = ustar(
    path.slice(0, 100),
    st.mode & 0o7777,
    size > MAX_OCTAL_SIZE ? 0 : size,
    mtime,
    type,
    link.slice(0, 100),
  );
  if (pax.length === 0) return block;
  const body = Buffer.from(pax.join(''));
  const padded = Buffer.concat([body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK)]);
  return Buffer.concat([ustar('PaxHeader', 0o644, body.length, 0, 'x', ''), padded, block]);
}

/** A pax record: "<length> <key>=<value>\n", the length counting itself. */
function record(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(rest) + 1;
  while (String(len).length + Buffer.byteLength(rest) !== len) len = String(len).length + Buffer.byteLength(rest);
  return `${len}${rest}`;
}

function ustar(name: string, mode: number, size: number, mtime: number, type: string, link: string): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100);
  octal(b, 100, 8, mode);
  octal(b, 108, 8, 0);
  octal(b, 116, 8, 0);
  octal(b, 124, 12, size);
  octal(b, 136, 12, mtime);
  b.fill(' ', 148, 156);
  b.write(type, 156, 1);
  b.write(link, 157, 100);
  b.write('ustar\0', 257, 6);
  b.write('00', 263, 2);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return b;
}

function octal(b: Buffer, at: number, width: number, value: number): void {
  b.write(value.toString(8).padStart(width - 1, '0') + '\0', at, width);
}
