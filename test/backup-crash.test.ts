import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { procStat } from '../src/system/proc.js';
import { isAlive } from './helpers/http.js';
import { sqliteApp } from './helpers/backup-app.js';
import { assertOk, TestHome, waitFor } from './helpers/home.js';

/**
 * `berth backup restore` is a transaction: berthd killed (SIGKILL, the hidden
 * BERTH_RESTORE_CRASH_AT) at each step of it, then started again: the app serves either the old
 * data or the restored, never a mix, and nothing is left aside.
 */
const home = new TestHome('28800-28819');
// Not home.httpPort: test/backup's home derives the same one from the hundreds.
Object.assign(home.env, { BERTH_HTTP_PORT: '29697' });
const { manifest, dataDir, rows, backupRun } = sqliteApp(home);

/** berthd started to be killed at `point` of the next restore (none: not killed). */
const start = (point: string | undefined) =>
  home.run(['daemon', 'start'], { env: point ? { ...home.env, BERTH_RESTORE_CRASH_AT: point } : home.env });

// fetch, stop, swap, start, commit: killed after each of the first four, and once the commit has begun.
const points = [
  ['0:after', false],
  ['1:after', false],
  ['2:after', false],
  ['3:after', false],
  ['4:before', true],
] as const;

before(async () => {
  assertOk(await start(points[0][0])); // the deploy and the backup run before it are not cut
});
after(() => home.cleanup());

test('berthd killed at every step of a restore: old or restored data serves after its restart, nothing left aside', async () => {
  assertOk(await home.cli('deploy', home.app('crash', manifest('crash', '{ to: local }'))));
  assert.equal(await rows('crash', 'add?n=4'), 4);
  const { r } = await backupRun('crash');
  assert.equal(r.status, 'verified', r.error);
  assert.equal(await rows('crash', 'add?n=5'), 9);
  // Each berthd started carries the next point: the one that recovers a cut restore is the next one cut.
  for (const [i, [point, restored]] of points.entries()) {
    const daemon = home.daemonPid() as number;
    const cut = await home.cli('backup', 'restore', 'crash', r.snapshot as string);
    assert.notEqual(cut.code, 0, `${point}: the restore was cut off`);
    await waitFor(`${point}: berthd to be dead`, () => !isAlive(daemon) || procStat(daemon)?.state === 'Z', 5000);
    assertOk(await start(points[i + 1]?.[0]));
    const count = await waitFor(`${point}: the app serving`, () => rows('crash').catch(() => undefined), 30_000, 200);
    assert.equal(count, restored ? 4 : 9, `${point}: ${restored ? 'the restored' : 'the old'} data serves`);
    const events = await home.json<Array<{ kind: string }>>('events', 'crash');
    assert.equal(events.at(-1)?.kind, restored ? 'restore.done' : 'restore.failed', point);
    assert.deepEqual(
      readdirSync(path.dirname(dataDir('crash'))).filter((n) => n.includes('restore')),
      [],
      `${point}: nothing left aside`,
    );
    if (restored) assert.equal(await rows('crash', 'add?n=5'), 9);
  }
});
