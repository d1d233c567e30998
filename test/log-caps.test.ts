import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { isSameProcessAlive, listPids, procArgv, procStat } from '../src/system/proc.js';
import { getJson, isAlive } from './helpers/http.js';
import { assertOk, NODE, REPO, sleep, TestHome, waitFor } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const FLOOD = path.join(REPO, 'test', 'fixtures', 'flood.mjs');
const home = new TestHome('27100-27199');
after(() => home.cleanup());

const MAX = 1024 * 1024;
const KEEP = 2;
/** log_max_bytes x (log_keep + 1), and a little for a "[N bytes dropped]" line. */
const BUDGET = MAX * (KEEP + 1) + 1024;

/**
 * What the log dir holds. Files are listed, then looked at one by one while the writer keeps
 * rotating: a file seen under two names (web.0.r1.log.1, then .2) counts once.
 */
function logDirBytes(): { bytes: number; files: string[]; largest: number } {
  const dir = path.join(home.home, 'logs', 'flood', 'production');
  const files = readdirSync(dir);
  const sizes = new Map<number, number>();
  for (const f of files) {
    try {
      const st = statSync(path.join(dir, f));
      sizes.set(st.ino, Math.max(st.size, sizes.get(st.ino) ?? 0));
    } catch {
      // rotated away meanwhile
    }
  }
  const all = [...sizes.values()];
  return { bytes: all.reduce((a, b) => a + b, 0), files, largest: Math.max(0, ...all) };
}

function overBudget(): string | undefined {
  const { bytes, files, largest } = logDirBytes();
  if (bytes > BUDGET || largest > MAX + 1024 || files.length > KEEP + 1)
    return `the log dir holds ${bytes} bytes in ${files.join(', ')} (largest ${largest}); the budget is ${BUDGET}`;
  return undefined;
}

/** Floods for `ms`, checking the disk use all along and calling `berth ps` back to back; returns how many answered. */
/** Memory a process holds of its own (not shared with others: its binary, libc), in KiB. */
function privateKiB(pid: number): number {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return [...rollup.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

async function flood(ms: number, expectPid: number): Promise<number> {
  const until = Date.now() + ms;
  let problem: string | undefined;
  let answered = 0;
  const disk = (async () => {
    while (!problem && Date.now() < until) {
      problem = overBudget();
      await sleep(20);
    }
  })();
  while (!problem && Date.now() < until) {
    // Not timed (the suite is not): each call must answer within the CLI helper's own 120 s timeout, back to
    // back, all through the flood. bench/logs.ts measures the latency of the API itself.
    const [v] = await home.json<InstanceStatus[]>('ps', 'flood');
    assert.equal(v?.pid, expectPid, 'the flooding instance keeps running');
    answered++;
  }
  await disk;
  assert.equal(problem, undefined);
  return answered;
}

test('an instance writing 1 MiB chunks flat out stays within log_max_bytes x (log_keep + 1), and berthd keeps answering', async () => {
  mkdirSync(home.home, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(home.home, 'config.yaml'), `log_max_bytes: ${MAX}\nlog_keep: ${KEEP}\n`);
  assertOk(
    await home.cli('up', home.app('flood', `app: flood\nservices:\n  web:\n    run: ["${NODE}", "${FLOOD}"]\n`)),
  );
  const [web] = await home.json<InstanceStatus[]>('ps', 'flood');
  const pid = web?.pid as number;
  const port = web?.port as number;
  assert.ok((await flood(10_000, pid)) >= 1, 'berth ps answered, call after call, all through the flood');
  // Its log writer, a process of its own (one per instance: 1,000 instances, 1,000 writers), needs little memory.
  const log = path.join(home.home, 'logs', 'flood', 'production', 'web.0.r1.log');
  const writerPid = await waitFor('the log writer', () => listPids().find((p) => procArgv(p).includes(log)));
  const writer = { pid: writerPid, startTicks: procStat(writerPid)?.startTicks ?? '' };
  const own = privateKiB(writer.pid);
  assert.ok(own > 0 && own < 1024, `the log writer holds ${own} KiB of its own, busy: under 1 MiB`);
  const { written } = await getJson<{ written: number }>(port);
  assert.ok(written > 10 * BUDGET, `the app wrote ${written} bytes: enough to overflow the budget many times`);
  // The file and `keep` rotated ones (a listing may fall between two renames of a rotation: look again).
  const expected = JSON.stringify(['web.0.r1.log', 'web.0.r1.log.1', 'web.0.r1.log.2']);
  await waitFor('the log and its two rotated files', () => JSON.stringify(logDirBytes().files.sort()) === expected);

  // berthd dies: the instance and its log writer do not, and the cap holds without it.
  const daemon = home.daemonPid() as number;
  process.kill(daemon, 'SIGKILL');
  await waitFor('berthd to die', () => !isAlive(daemon) || procStat(daemon)?.state === 'Z', 5000);
  const before = (await getJson<{ written: number }>(port)).written;
  await sleep(1000);
  assert.ok((await getJson<{ written: number }>(port)).written > before + BUDGET, 'the flood goes on without berthd');
  assert.ok(isSameProcessAlive(writer.pid, writer.startTicks), 'through the same log writer');
  assert.equal(overBudget(), undefined);
  assert.ok((await flood(2000, pid)) >= 1, 'the next berthd adopts it and answers');
  assertOk(await home.cli('stop', 'flood'));
  const lines = (await home.cli('logs', 'flood', '--lines', '3')).stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  // Whole lines (the very last may be cut: SIGTERM can land in the middle of the app's write).
  for (const l of lines.slice(0, 2)) assert.match(l, /^flood x{121}$/);
  assert.match(lines[2] as string, /^flood x*$/);
});
