import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Log rotation settings. */
export interface RotationOptions {
  /** No log file grows past this. Default 10 MiB. */
  readonly maxBytes: number;
  /** Rotated files kept (`.1` newest). Default 5. */
  readonly keep: number;
}

export const DEFAULT_ROTATION: RotationOptions = Object.freeze({ maxBytes: 10 * 1024 * 1024, keep: 5 });

/** Built from src/native/log-writer.c by `npm run build` (scripts/build-native.sh). */
const WRITER = fileURLToPath(new URL('../native/log-writer', import.meta.url));
let built = false;

/**
 * The log writer of one instance (see src/native/log-writer.c): run as
 * `log-writer <file> <maxBytes> <keep> [<uid> <gid>]` with the instance's output on standard
 * input, it appends to `file`, rotates by rename, drops with a count rather than outgrow
 * maxBytes x (keep + 1), and exits when the last process of the instance closes its output.
 */
export function logWriterPath(): string {
  if (!built && !existsSync(WRITER))
    throw new Error(
      `the log writer ${WRITER} is missing: build Berth with \`npm run build\` (it needs a C compiler: apt-get install build-essential)`,
    );
  built = true;
  return WRITER;
}
