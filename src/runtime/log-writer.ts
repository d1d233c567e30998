import {
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';

/** Log rotation settings. */
export interface RotationOptions {
  /** No log file grows past this. Default 10 MiB. */
  readonly maxBytes: number;
  /** Rotated files kept (`.1` newest). Default 5. */
  readonly keep: number;
}

export const DEFAULT_ROTATION: RotationOptions = Object.freeze({ maxBytes: 10 * 1024 * 1024, keep: 5 });

const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
const NEWLINE = 0x0a;

/**
 * One instance's log on disk: `file` plus at most `keep` rotated files, none past
 * `maxBytes`, so the instance never holds more than maxBytes x (keep + 1) whatever it
 * writes. Rotation renames (`file` -> `file.1` -> ...) and reopens: no copy, and the
 * writer is the only one holding the file. Output that cannot be written within the
 * budget (a rotation or a write failed: a full disk, a directory where a rotated file
 * should go) is dropped and counted, and a `[N bytes dropped]` line says so at the next
 * write that succeeds.
 */
export class RotatingLog {
  readonly #file: string;
  readonly #o: RotationOptions;
  readonly #owner: { uid: number; gid: number } | undefined;
  #fd = -1;
  #size = 0;
  #dropped = 0;

  constructor(file: string, o: RotationOptions, owner?: { uid: number; gid: number }) {
    this.#file = file;
    this.#o = o;
    this.#owner = owner;
    this.#reopen(); // when it cannot be opened, output is dropped (and counted) until it can: the app never blocks on it
  }

  /** Writes a chunk, rotating at a line boundary where there is one. */
  write(chunk: Buffer): void {
    while (chunk.length > 0) {
      if (this.#fd < 0 && !this.#reopen()) return this.#drop(chunk.length);
      const room = this.#o.maxBytes - this.#size - this.#noteLength();
      let take = Math.max(0, Math.min(room, chunk.length));
      if (take > 0 && take < chunk.length) {
        const cut = chunk.lastIndexOf(NEWLINE, take - 1);
        if (cut >= 0) take = cut + 1;
        else if (this.#size > 0) take = 0; // a line that does not fit starts the next file
      }
      if (take <= 0) {
        if (!this.#rotate()) return this.#drop(chunk.length);
        continue;
      }
      if (!this.#writeAll(this.#note(), chunk.subarray(0, take))) return this.#drop(chunk.length);
      chunk = chunk.subarray(take);
    }
  }

  /** Says what was dropped, if anything, and closes the file. */
  close(): void {
    if (this.#dropped > 0 && this.#fd >= 0) this.#writeAll(this.#note(), Buffer.alloc(0));
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  #note(): string {
    return this.#dropped > 0 ? `[${this.#dropped} bytes dropped]\n` : '';
  }

  #noteLength(): number {
    return Buffer.byteLength(this.#note());
  }

  #drop(n: number): void {
    this.#dropped += n;
  }

  #writeAll(note: string, data: Buffer): boolean {
    const buf = note ? Buffer.concat([Buffer.from(note), data]) : data;
    try {
      for (let off = 0; off < buf.length;) off += writeSync(this.#fd, buf, off, buf.length - off);
    } catch {
      return false; // a full disk: what did not go is counted with the rest of the chunk
    }
    if (note) this.#dropped = 0;
    this.#size += buf.length;
    return true;
  }

  #open(): void {
    const fd = openSync(this.#file, APPEND, 0o640);
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      throw new Error(`${this.#file} is not a regular file`);
    }
    // A file this writer made goes to the app's user, as the first one did (never a file hard-linked in).
    if (this.#owner && st.nlink === 1 && st.uid !== this.#owner.uid) fchownSync(fd, this.#owner.uid, this.#owner.gid);
    this.#fd = fd;
    this.#size = st.size;
  }

  #reopen(): boolean {
    try {
      this.#open();
      return true;
    } catch {
      return false;
    }
  }

  /** file.(keep-1) -> file.keep, ..., file -> file.1, then a fresh file. False when it could not. */
  #rotate(): boolean {
    try {
      if (this.#o.keep === 0) {
        ftruncateSync(this.#fd, 0); // O_APPEND: the next write goes to the new end
        this.#size = 0;
        return true;
      }
      // Another writer of this file (the instance's previous run, still draining) rotated it first: follow it.
      if (lstatSync(this.#file).ino !== fstatSync(this.#fd).ino) return this.#swap();
      rmIfThere(`${this.#file}.${this.#o.keep}`);
      for (let i = this.#o.keep - 1; i >= 1; i--) renameIfThere(`${this.#file}.${i}`, `${this.#file}.${i + 1}`);
      renameSync(this.#file, `${this.#file}.1`);
      return this.#swap();
    } catch {
      return false;
    }
  }

  #swap(): boolean {
    closeSync(this.#fd);
    this.#fd = -1;
    return this.#reopen();
  }
}

function rmIfThere(p: string): void {
  try {
    unlinkSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function renameIfThere(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Copies everything readable from descriptor `input` (the read end of the instance's
 * stdout and stderr) into `log` until every writer has closed it (the instance and all its
 * children are gone). Blocking reads: the process does nothing else.
 */
export function pump(input: number, log: RotatingLog): void {
  const buf = Buffer.allocUnsafe(64 * 1024);
  const idle = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n: number;
    try {
      n = readSync(input, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EINTR') {
        Atomics.wait(idle, 0, 0, 10); // a non-blocking descriptor: wait a little, read again
        continue;
      }
      break;
    }
    if (n === 0) break;
    log.write(buf.subarray(0, n));
  }
  log.close();
}
