import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { HISTORY_WINDOW_MS, MetricsHistory } from '../src/metrics/history.js';
import { shopSampler } from './helpers/metrics-samples.js';

/**
 * The metrics history on disk (issue 19: the dashboard's graphs survive a restart of berthd): what one history
 * wrote, another reads back; one line (one write) per interval for all services, 1,000 of them; at most an hour
 * and a half on disk; a torn last line skipped; a link planted for the directory refused. berthd itself,
 * stopped and killed, is in test/metrics-restart.test.ts.
 */
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'berth-history-'));
  dirs.push(d);
  return d;
};

/** Samples of `services()`, a minute apart, from three hours ago: 60 requests a minute each, a quarter of a core. */
const sampler = (services: () => string[], start = Date.now() - HISTORY_WINDOW_MS * 3) =>
  shopSampler(services, { start, perMinute: 60, bucket: 2, cpuShare: 0.25, rssBytes: 50 << 20 });

const lines = (dir: string) =>
  readdirSync(dir)
    .sort()
    .flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));

test('a new history on the same directory reads back the last hour, as it was, and not the services gone', async () => {
  const dir = tempDir();
  let services = ['web', 'worker', 'cron'];
  const s = sampler(() => services);
  const first = new MetricsHistory(s.sample, 60_000, undefined, dir);
  for (let n = 0; n < 30; n++) await first.tick();
  services = ['web', 'worker']; // cron gone before the restart
  for (let n = 0; n < 3; n++) await first.tick();
  const before = first.of('shop', 'production');
  first.stop();
  assert.deepEqual(
    before.map((x) => [x.service, x.points.length]),
    [
      ['web', 32],
      ['worker', 32],
    ],
  );

  const second = new MetricsHistory(s.sample, 60_000, undefined, dir);
  await second.restore(s.now());
  assert.deepEqual(second.of('shop', 'production'), before, 'the same services and points, values included');
  // A torn line (berthd killed while writing it) is skipped; the rest reads back.
  const segments = readdirSync(dir).length;
  assert.equal(segments, 2, '32 minutes of samples: a segment per half hour');
  const segment = readdirSync(dir).sort().at(-1);
  appendFileSync(path.join(dir, segment!), '{"at":' + (s.now() + 1) + ',"s":60,"p":[["shop","produ');
  const third = new MetricsHistory(s.sample, 60_000, undefined, dir);
  await third.restore(s.now() + 1);
  assert.deepEqual(third.of('shop', 'production'), before);
  // Sampling goes on after the points read back; the next write starts a segment of its own.
  await third.tick();
  await third.tick();
  assert.equal(third.of('shop', 'production')[0]?.points.length, 33);
  assert.equal(readdirSync(dir).length, segments + 1);
  third.stop();
});

test('1,000 services: one line per interval for all of them, and never much more than an hour on disk', async () => {
  const dir = tempDir();
  const names = Array.from({ length: 1000 }, (_, n) => `svc${n}`);
  const s = sampler(() => names);
  const history = new MetricsHistory(s.sample, 60_000, undefined, dir);
  await history.tick(); // the first sample is the baseline: no point, nothing written
  const ticks = 200; // 200 minutes: more than three hours
  const started = process.hrtime.bigint();
  for (let n = 0; n < ticks; n++) await history.tick();
  const perTick = Number(process.hrtime.bigint() - started) / 1e6 / ticks;
  history.stop();
  const kept = lines(dir);
  const bytes = readdirSync(dir).reduce((n, f) => n + readFileSync(path.join(dir, f)).length, 0);
  process.stdout.write(
    `# 1,000 services: ${(bytes / kept.length / 1024).toFixed(0)} KiB a line, ${(bytes / 1048576).toFixed(1)} MiB on disk in ${readdirSync(dir).length} segments, ${perTick.toFixed(1)} ms a tick (sample, rates and write)\n`,
  );
  // One line per interval, each with every service: the points of one interval are one write.
  for (const line of kept) assert.equal((JSON.parse(line) as { p: unknown[] }).p.length, 1000);
  const ats = kept.map((l) => (JSON.parse(l) as { at: number }).at);
  assert.deepEqual(
    ats,
    [...new Set(ats)].sort((a, b) => a - b),
    'one line per interval',
  );
  assert.ok(ats.length >= 60 && ats.length <= 91, `an hour to an hour and a half of lines on disk, not ${ats.length}`);
  assert.ok(readdirSync(dir).length <= 3, readdirSync(dir).join(' '));
  assert.equal(ats.at(-1), s.now());
  const again = new MetricsHistory(s.sample, 60_000, undefined, dir);
  await again.restore(s.now());
  const restored = again.of('shop', 'production');
  assert.equal(restored.length, 1000);
  assert.equal(restored[0]?.points.length, 60, 'the hour up to the newest point: 60 one-minute intervals');
  assert.equal(restored[0].points.at(-1)?.at, s.now());
});

test('a link in place of the directory is refused, and a segment that is a link is not read', async () => {
  const base = tempDir();
  const elsewhere = path.join(base, 'elsewhere');
  mkdirSync(elsewhere);
  symlinkSync(elsewhere, path.join(base, 'history'));
  const errors: unknown[] = [];
  const s = sampler(() => ['web']);
  const history = new MetricsHistory(s.sample, 60_000, (err) => errors.push(err), path.join(base, 'history'));
  await history.tick();
  await history.tick();
  assert.match(String(errors[0]), /history is not a directory \(a link\?\): remove it/);
  assert.deepEqual(readdirSync(elsewhere), [], 'nothing written through the link');

  // A real directory whose segment is a link to a file of sample lines: not followed.
  const dir = path.join(base, 'real');
  const writer = new MetricsHistory(s.sample, 60_000, undefined, path.join(base, 'written'));
  for (let n = 0; n < 4; n++) await writer.tick();
  writer.stop();
  const [written] = readdirSync(path.join(base, 'written'));
  mkdirSync(dir);
  symlinkSync(path.join(base, 'written', written!), path.join(dir, written!));
  const reader = new MetricsHistory(s.sample, 60_000, undefined, dir);
  await reader.restore(s.now());
  assert.deepEqual(reader.of('shop', 'production'), []);
});
