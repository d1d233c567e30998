/**
 * `node data-copy-main.js <from> <to>`: copyDataDir in a process of its own, which berthd
 * starts as the app's user, so the copy reads only what the app itself may read. Prints
 * the result as JSON; exits 1 with the error on stderr.
 */
import { copyDataDir } from './data-copy.js';

const [from, to] = process.argv.slice(2);
if (!from || !to) {
  process.stderr.write('usage: data-copy-main.js <from> <to>\n');
  process.exit(2);
}
copyDataDir(from, to).then(
  (r) => process.stdout.write(JSON.stringify(r)),
  (err: unknown) => {
    process.stderr.write(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
