import { pump, RotatingLog } from './log-writer.js';

/**
 * The log writer of one instance (see log-writer.ts and process-runner.ts):
 * `node log-writer-main.js <file> <maxBytes> <keep> [<uid> <gid>]`, the instance's output on
 * standard input. It exits when the last process of the instance closes its output.
 */
const [file, maxBytes, keep, uid, gid] = process.argv.slice(2);
pump(
  0,
  new RotatingLog(
    file as string,
    { maxBytes: Number(maxBytes), keep: Number(keep) },
    uid !== undefined ? { uid: Number(uid), gid: Number(gid) } : undefined,
  ),
);
