import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';
import { resolveUnder } from '../system/paths.js';

/** One file of an uploaded source tree. */
export interface UploadFile {
  readonly path: string;
  /** base64 contents; absent for a symlink. */
  readonly data?: string;
  /** A relative symlink target that stays inside the tree. */
  readonly link?: string;
  readonly executable?: boolean;
}

/** The most an uploaded tree may hold, decoded. */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
/** How many directories deep an uploaded path may go. */
export const MAX_UPLOAD_DEPTH = 64;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Standard base64 with its padding, as `Buffer#toString('base64')` writes it (Buffer.from would skip anything else). */
export function isBase64(data: string): boolean {
  return data.length % 4 === 0 && BASE64.test(data);
}

function badPath(p: string, why: string): BerthError {
  return new BerthError('invalid', 'bad_upload_path', `upload path ${JSON.stringify(p)} ${why}`);
}

/** What the file system said about a path of the upload, without the host's paths. */
function writeError(p: string, err: unknown): BerthError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR')
    return badPath(p, 'is both a file and a directory of the upload');
  if (code === 'ENAMETOOLONG') return badPath(p, 'is too long: at most 255 bytes a name, about 3,500 a path');
  if (code === 'ELOOP') return badPath(p, 'lies below a symlink of the upload');
  return new BerthError('failed', 'upload_write', `writing upload path ${JSON.stringify(p)}: ${code ?? 'error'}`);
}

/** An uploaded tree, checked and decoded: each file's bytes are `blob[offset, offset + length)`. */
export interface DecodedTree {
  readonly entries: ReadonlyArray<{
    readonly path: string;
    readonly link?: string;
    readonly executable?: boolean;
    readonly offset: number;
    readonly length: number;
  }>;
  readonly blob: Uint8Array;
}

/**
 * Checks every entry and decodes the files into one buffer, touching no disk (berthd runs it
 * off its event loop, in the manifest thread): every path relative, inside and new, never
 * below an uploaded link; every link's target inside the tree as written; every file's data
 * base64; the whole at most MAX_UPLOAD_BYTES.
 */
export function decodeTree(files: readonly UploadFile[]): DecodedTree {
  const links = new Set(files.filter((f) => f.link !== undefined).map((f) => path.normalize(f.path)));
  const seen = new Set<string>();
  let total = 0;
  for (const f of files) {
    const rel = path.normalize(f.path);
    const segments = rel.split(path.sep);
    if (
      f.path.includes('\0') ||
      path.isAbsolute(f.path) ||
      segments.some((s) => s === '..' || s === '.git') ||
      rel === '.' ||
      seen.has(rel)
    )
      throw badPath(f.path, 'is not a new relative path inside the tree');
    if (segments.length > MAX_UPLOAD_DEPTH)
      throw badPath(f.path, `is ${segments.length} levels deep; at most ${MAX_UPLOAD_DEPTH}`);
    seen.add(rel);
    if (segments.slice(0, -1).some((_, i) => links.has(segments.slice(0, i + 1).join(path.sep))))
      throw badPath(f.path, 'lies below a symlink of the upload');
    if (f.link !== undefined && f.data !== undefined)
      throw new BerthError(
        'invalid',
        'bad_upload_entry',
        `upload entry ${JSON.stringify(f.path)} is both a file and a link`,
      );
    if (f.data !== undefined && !isBase64(f.data))
      throw new BerthError('invalid', 'bad_upload_data', `upload entry ${JSON.stringify(f.path)}: data is not base64`, {
        hint: 'send file contents as standard base64 with padding (A-Z, a-z, 0-9, +, /, =)',
      });
    if (f.link !== undefined) {
      // As written, from where the link will be: inside the tree wherever the tree ends up (a dangling link too).
      const lexical = path.join(path.dirname(rel), f.link);
      if (path.isAbsolute(f.link) || f.link.includes('\0') || lexical === '..' || lexical.startsWith('..' + path.sep))
        throw new BerthError('invalid', 'bad_upload_link', `symlink ${f.path} -> ${f.link} leads out of the tree`);
    }
    total += f.data === undefined ? 0 : Buffer.byteLength(f.data, 'base64');
    if (total > MAX_UPLOAD_BYTES)
      throw new BerthError(
        'invalid',
        'upload_too_large',
        `the source tree is over ${MAX_UPLOAD_BYTES / 1024 / 1024} MiB`,
        { hint: 'leave build output and dependencies out (.gitignore), and build on the server with build:' },
      );
  }
  const blob = Buffer.allocUnsafeSlow(total); // its own memory: handed to the event loop's thread without a copy
  let offset = 0;
  const entries = files.map((f) => {
    const length = f.data === undefined ? 0 : blob.write(f.data, offset, 'base64');
    const entry = {
      path: f.path,
      ...(f.link !== undefined ? { link: f.link } : {}),
      ...(f.executable ? { executable: true } : {}),
      offset,
      length,
    };
    offset += length;
    return entry;
  });
  return { entries, blob };
}

/**
 * Writes a decoded tree (see decodeTree): files first and links last (so nothing is ever
 * written through a link), then each link's real target checked to stay inside (chains of
 * links included). A path the file system refuses is the upload's error (400), told without
 * the host's paths.
 */
export function writeTree(stage: string, tree: DecodedTree): void {
  mkdirSync(stage, { recursive: true, mode: 0o700 });
  const write = (p: string, act: (to: string) => void) => {
    try {
      const to = resolveUnder(stage, p);
      mkdirSync(path.dirname(to), { recursive: true });
      act(to);
    } catch (err) {
      throw err instanceof BerthError ? err : writeError(p, err);
    }
  };
  for (const f of tree.entries) {
    if (f.link !== undefined) continue;
    const data = tree.blob.subarray(f.offset, f.offset + f.length);
    write(f.path, (to) => writeFileSync(to, data, { flag: 'wx', mode: f.executable ? 0o755 : 0o644 }));
  }
  for (const f of tree.entries) if (f.link !== undefined) write(f.path, (to) => symlinkSync(f.link as string, to));
  const real = realpathSync.native(stage);
  for (const f of tree.entries) {
    if (f.link === undefined) continue;
    let target: string;
    try {
      target = realpathSync.native(resolveUnder(stage, f.path));
    } catch {
      continue; // dangling: points at nothing (yet); it is copied as a link, never followed by Berth
    }
    if (target !== real && !target.startsWith(real + path.sep))
      throw new BerthError('invalid', 'bad_upload_link', `symlink ${f.path} -> ${f.link} leads out of the tree`);
  }
}
