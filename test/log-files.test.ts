import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { rotateIfNeeded, tailLines } from '../src/runtime/log-files.js';
import { sleep, waitFor } from './helpers/home.js';

const dir = mkdtempSync(path.join(tmpdir(), 'berth-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('size-based rotation keeps N files while the writer keeps its descriptor', async () => {
  const file = path.join(dir, 'web.0.log');
  const fd = openSync(file, 'a');
  // A real writer that holds the file open, as an instance does: 200 bytes every 5 ms.
  const writer = spawn(
    process.execPath,
    ['-e', 'let i=0; setInterval(() => console.log(String(i++).padStart(6, "0") + "x".repeat(193)), 5)'],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  try {
    for (let round = 1; round <= 4; round++) {
      await waitFor('the log to grow', () => statSync(file).size > 4096);
      assert.equal(rotateIfNeeded(file, { maxBytes: 4096, keep: 2 }), true);
      assert.ok(statSync(file).size < 4096);
    }
    assert.ok(existsSync(`${file}.1`) && existsSync(`${file}.2`));
    assert.ok(!existsSync(`${file}.3`), 'only `keep` rotated files remain');
    assert.equal(rotateIfNeeded(file, { maxBytes: 1024 * 1024, keep: 2 }), false);
    await sleep(100);
    const lines = tailLines(file, 3);
    assert.equal(lines.length, 3);
    for (const l of lines)
      assert.match(l, /^\d{6}x{193}$/, 'the writer goes on writing whole lines at the start of the truncated file');
    assert.ok(!readFileSync(file).includes(0), 'no hole of zero bytes: the writer appends');
  } finally {
    writer.kill();
  }
});
