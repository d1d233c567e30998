import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { fileSize, readFrom, tailLines } from '../src/runtime/log-files.js';
import { logWriterPath } from '../src/runtime/log-writer.js';
import { waitFor } from './helpers/home.js';

const dir = mkdtempSync(path.join(tmpdir(), 'berth-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const WRITER = logWriterPath();

/** Runs the real log writer on `file`, feeds it `lines` numbered lines of `width` bytes from a real process, waits for it to end. */
async function writeThrough(file: string, maxBytes: number, keep: number, lines: number, width = 100): Promise<void> {
  const writer = spawn(WRITER, [file, String(maxBytes), String(keep)], {
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  const producer = spawn(
    process.execPath,
    [
      '-e',
      `let s=''; for (let i=0;i<${lines};i++) s+=String(i).padStart(8,'0')+'x'.repeat(${width - 9})+'\\n'; process.stdout.write(s)`,
    ],
    { stdio: ['ignore', writer.stdin, writer.stdin] },
  );
  const ended = Promise.all([once(writer, 'exit'), once(producer, 'exit')]);
  writer.stdin.destroy(); // only the producer holds the write end now: its exit ends the writer
  const [[code]] = (await ended) as [[number], unknown];
  assert.equal(code, 0);
}

const LINE = /^\d{8}x{91}$/;

for (const width of [100, 128])
  test(`the log writer rotates by rename: the file and \`keep\` rotated ones, none past the cap, whole lines, newest last (${width}-byte lines)`, async () => {
    const sub = path.join(dir, `rename-${width}`);
    mkdirSync(sub);
    const file = path.join(sub, 'web.0.r1.log');
    const line = new RegExp(`^\\d{8}x{${width - 9}}$`);
    writeFileSync(file, '00000000'.padEnd(width - 1, 'x') + '\n'); // from an earlier run
    await writeThrough(file, 4096, 2, 1000, width); // 100 kB or more through a 3 x 4 kB budget
    assert.deepEqual(readdirSync(sub).sort(), ['web.0.r1.log', 'web.0.r1.log.1', 'web.0.r1.log.2']);
    for (const f of readdirSync(sub)) {
      const size = statSync(path.join(sub, f)).size;
      assert.ok(size <= 4096 && size > (f.endsWith('.log') ? 0 : 3500), `${f}: ${size} bytes`);
      for (const l of readFileSync(path.join(sub, f), 'utf8').trimEnd().split('\n')) assert.match(l, line, f);
    }
    const first = (f: string) => Number(readFileSync(f, 'utf8').slice(0, 8));
    const last = (f: string) => Number(tailLines(f, 1)[0]?.slice(0, 8));
    assert.equal(last(file), 999, 'the newest output is in the file itself');
    assert.equal(first(file), last(`${file}.1`) + 1, 'nothing lost between .1 and the file');
    assert.equal(first(`${file}.1`), last(`${file}.2`) + 1, 'nor between .2 and .1');
  });

test('when it cannot rotate, the writer drops output with a counted line instead of outgrowing its cap', async () => {
  const sub = path.join(dir, 'stuck');
  mkdirSync(`${path.join(sub, 'api.0.r1.log')}.1/x`, { recursive: true }); // a directory where the rotated file must go
  const file = path.join(sub, 'api.0.r1.log');
  await writeThrough(file, 4096, 1, 300); // 30 000 bytes
  const text = readFileSync(file, 'utf8');
  const lines = text.trimEnd().split('\n');
  const note = lines.pop() as string;
  const m = /^\[(\d+) bytes dropped\]$/.exec(note);
  assert.ok(m, `the last line counts what was dropped: ${note}`);
  for (const l of lines) assert.match(l, LINE);
  assert.equal(lines.length * 100 + Number(m[1]), 30_000, 'every byte is either written or counted');
  assert.ok(statSync(file).size <= 4096, `${statSync(file).size} bytes`);
  assert.ok(existsSync(`${file}.1/x`));
});

/** `n` numbered 100-byte lines from `from` on. */
const lines = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => String(from + i).padStart(8, '0') + 'x'.repeat(91) + '\n').join('');

test('the log writer never follows a link planted at the log file or at a rotated name, nor waits on a FIFO', async () => {
  const sub = path.join(dir, 'links');
  mkdirSync(sub);
  const victim = path.join(dir, 'victim');
  writeFileSync(victim, 'precious\n');
  const untouched = () => assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the file the links point to');

  const file = path.join(sub, 'web.0.r1.log');
  symlinkSync(victim, file);
  await writeThrough(file, 4096, 2, 100);
  untouched();
  assert.ok(lstatSync(file).isSymbolicLink());
  assert.deepEqual(readdirSync(sub), ['web.0.r1.log'], 'nothing written anywhere else either');

  rmSync(file);
  symlinkSync(victim, `${file}.1`);
  symlinkSync(victim, `${file}.2`);
  await writeThrough(file, 4096, 2, 1000); // rotations rename the links away and unlink them, never write through them
  untouched();
  for (const f of readdirSync(sub)) {
    assert.ok(lstatSync(path.join(sub, f)).isFile(), `${f} is a file of its own`);
    for (const l of readFileSync(path.join(sub, f), 'utf8').trimEnd().split('\n')) assert.match(l, LINE, f);
  }

  // A link put in place of the file while the writer holds it: the next rotation reopens the name, and does not follow it.
  const other = path.join(sub, 'api.0.r1.log');
  const writer = spawn(WRITER, [other, '4096', '1'], { stdio: ['pipe', 'inherit', 'inherit'] });
  const exited = once(writer, 'exit');
  writer.stdin.write(lines(0, 30));
  await waitFor('the first lines in the log', () => existsSync(other) && statSync(other).size === 3000);
  renameSync(other, `${other}.moved`);
  symlinkSync(victim, other);
  writer.stdin.end(lines(30, 30)); // past 4096 bytes: a rotation
  assert.deepEqual(await exited, [0, null]);
  untouched();
  assert.ok(lstatSync(other).isSymbolicLink());
  // The file it holds fills up to the cap; then the name is a link: the rest is dropped (nowhere to say so).
  assert.equal(readFileSync(`${other}.moved`, 'utf8'), lines(0, 40));

  // A FIFO at the name: the writer neither waits for a reader nor writes into it, and ends with its input.
  const fifo = path.join(sub, 'worker.0.r1.log');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  await writeThrough(fifo, 4096, 1, 100);
  assert.ok(lstatSync(fifo).isFIFO());
});

test('the log writer ignores SIGTERM, SIGHUP and SIGINT: it ends with its input, having written all of it', async () => {
  const file = path.join(dir, 'signals.log');
  const writer = spawn(WRITER, [file, '4096', '1'], { stdio: ['pipe', 'inherit', 'inherit'], detached: true });
  const exited = once(writer, 'exit');
  writer.stdin.write(lines(0, 1));
  await waitFor('the first line in the log', () => existsSync(file) && statSync(file).size === 100);
  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) writer.kill(signal);
  writer.stdin.end(lines(1, 1));
  assert.deepEqual(await exited, [0, null]);
  assert.equal(readFileSync(file, 'utf8'), lines(0, 2));
});

test('the log writer refuses a command line it cannot follow, saying what it expects', () => {
  const r = spawnSync(WRITER, [path.join(dir, 'x.log'), '10MB', '5'], { input: '', encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /"10MB" is not a number from 64 to/);
  assert.match(spawnSync(WRITER, [], { input: '', encoding: 'utf8' }).stderr, /^usage: log-writer <file> <maxBytes>/);
});

test(
  "the log writer gives the files it makes to the app's user (mode 0640), never a file hard-linked in",
  { skip: process.getuid?.() === 0 ? false : 'needs root: files of another user' },
  async () => {
    const sub = path.join(dir, 'owner');
    mkdirSync(sub);
    const file = path.join(sub, 'web.0.r1.log');
    const through = async (n: number) => {
      const writer = spawn(WRITER, [file, '4096', '1', '65534', '65533'], { stdio: ['pipe', 'inherit', 'inherit'] });
      const exited = once(writer, 'exit');
      writer.stdin.end(lines(0, n));
      assert.deepEqual(await exited, [0, null]);
    };
    await through(60); // 6 000 bytes: a rotation
    for (const f of ['web.0.r1.log', 'web.0.r1.log.1']) {
      const st = statSync(path.join(sub, f));
      assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [65534, 65533, 0o640], f);
    }
    rmSync(file);
    const other = path.join(dir, 'roots.log');
    writeFileSync(other, '');
    linkSync(other, file);
    await through(1);
    assert.equal(statSync(other).uid, 0, 'a file hard-linked in stays with its owner');
  },
);

test('tailLines never shows a piece of a line cut by its read window', () => {
  const file = path.join(dir, 'tail.log');
  writeFileSync(file, 'a'.repeat(50) + '\nsecond\nthird\n');
  assert.deepEqual(tailLines(file, 5, 20), ['second', 'third']);
  assert.deepEqual(tailLines(path.join(dir, 'none.log'), 5), []);
});

test('tailLines reaches into the rotated file when the log was just rotated, and follows no link there', async () => {
  const sub = path.join(dir, 'just-rotated');
  mkdirSync(sub);
  const file = path.join(sub, 'flood.0.r1.log');
  await writeThrough(file, 4096, 2, 41); // 40 lines of 100 bytes fill a file: the 41st starts the next one
  assert.equal(readFileSync(file, 'utf8').split('\n').length - 1, 1, 'one line since the rotation');
  const numbers = (l: string[]) => l.map((x) => Number(x.slice(0, 8)));
  assert.deepEqual(numbers(tailLines(file, 3)), [38, 39, 40], "the last 3 lines of the instance's output");
  assert.deepEqual(numbers(tailLines(file, 100)), [...Array(41).keys()], 'all of them, in order, none twice');
  assert.deepEqual(numbers(tailLines(file, 3, 150)), [40], 'the read budget covers both files');
  // The app's user may own these files: a link where the rotated file should be is not read.
  const secret = path.join(dir, 'secret.txt');
  writeFileSync(secret, 'root:secret\nroot:secret\n');
  rmSync(`${file}.1`);
  symlinkSync(secret, `${file}.1`);
  assert.deepEqual(numbers(tailLines(file, 3)), [40]);
  symlinkSync(secret, path.join(sub, 'linked.log'));
  assert.deepEqual(tailLines(path.join(sub, 'linked.log'), 3), []);
});

test('following a log (berth logs -f) reads what is appended, from a truncated file again, and never through a link', () => {
  const sub = path.join(dir, 'followed');
  mkdirSync(sub);
  const file = path.join(sub, 'web.0.r1.log');
  writeFileSync(file, 'one\n');
  assert.equal(fileSize(file), 4);
  writeFileSync(file, 'one\ntwo\n');
  assert.deepEqual(readFrom(file, 4), { text: 'two\n', offset: 8 });
  assert.deepEqual(readFrom(file, 8), { text: '', offset: 8 });
  writeFileSync(file, 'new\n'); // truncated, as a rotation's fresh file
  assert.deepEqual(readFrom(file, 8), { text: 'new\n', offset: 4 });
  // The app's user may own the log's directory: a link put in the file's place shows nothing of its target.
  const secret = path.join(dir, 'followed-secret.txt');
  writeFileSync(secret, 'root:secret\n'.repeat(4));
  rmSync(file);
  symlinkSync(secret, file);
  assert.equal(fileSize(file), 0);
  assert.deepEqual(readFrom(file, 0), { text: '', offset: 0 });
  assert.deepEqual(readFrom(file, 4), { text: '', offset: 4 });
  // Nor a link to a directory (a victim tree), nor a directory itself.
  const victim = path.join(dir, 'followed-victim');
  mkdirSync(victim);
  writeFileSync(path.join(victim, 'x'), 'root:secret\n');
  rmSync(file);
  symlinkSync(victim, file);
  assert.equal(fileSize(file), 0);
  assert.deepEqual(readFrom(file, 0), { text: '', offset: 0 });
  assert.deepEqual(readFrom(victim, 0), { text: '', offset: 0 });
  assert.equal(fileSize(path.join(sub, 'none.log')), 0);
  assert.deepEqual(readFrom(path.join(sub, 'none.log'), 0), { text: '', offset: 0 });
});
