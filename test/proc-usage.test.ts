import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { pageSize, procUsage } from '../src/metrics/proc-usage.js';
import { procStat } from '../src/system/proc.js';
import { NODE, waitFor } from './helpers/home.js';

/**
 * The metrics sample reads each instance's CPU and memory from its /proc/<pid>/stat alone (one read, into a shared
 * buffer): what it says must be what the kernel's other files say. A child holding 48 MiB it has written is still,
 * so its RSS in stat (pages) and in status (VmRSS, kB) are the same counter.
 */
const holder = spawn(
  NODE,
  ['-e', "const b = Buffer.alloc(48 << 20, 1); process.stdout.write('ready'); setInterval(() => b[0]++, 60_000);"],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
after(() => holder.kill('SIGKILL'));

const vmRssBytes = (pid: number) =>
  Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

test("an instance's memory and CPU come from its stat file, as its status file states them", async () => {
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  const pid = holder.pid!;
  assert.ok([4096, 16384, 65536].includes(pageSize()), `page size ${pageSize()}`);
  // Equal once two reads of status around the stat read agree (the child settles after its start).
  const [before, use, after2] = await waitFor('a still RSS', () => {
    const b = vmRssBytes(pid);
    const u = procUsage(pid, null);
    const a = vmRssBytes(pid);
    return b === a ? ([b, u, a] as const) : undefined;
  });
  assert.ok(use, 'the child is there');
  // The same counter, read exactly by status and approximately by stat (per-CPU parts since Linux 6.2): ~100 KiB apart here.
  assert.ok(
    Math.abs(use.rssBytes - before) <= 1 << 20,
    `stat's RSS ${use.rssBytes} is status's VmRSS ${before} (${after2})`,
  );
  assert.ok(before >= 48 << 20, `the 48 MiB are resident: ${before}`);
  const stat = procStat(pid)!;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  assert.equal(stat.startTicks, fields[19]);
  assert.equal(
    stat.cpuTicks,
    [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0),
  );
  assert.ok(Math.abs(use.cpuSeconds - stat.cpuTicks / 100) < 0.5, 'CPU seconds are its ticks at USER_HZ');
  assert.equal(procUsage(pid, String(Number(stat.startTicks) + 1)), undefined, 'another start time: another process');
});

test('a process that is gone has no stat and no usage', async () => {
  const gone = spawn(NODE, ['-e', '0']);
  await new Promise((resolve) => gone.once('exit', resolve));
  assert.equal(procStat(gone.pid!), undefined);
  assert.equal(procUsage(gone.pid!, null), undefined);
  assert.equal(
    procStat(process.pid)?.comm,
    readFileSync('/proc/self/comm', 'utf8').trim(),
    'this process, by its name',
  );
});
