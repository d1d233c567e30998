import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { latestDue, nextDue, scheduleProblem } from '../src/config/cron-schedule.js';
import { parseManifest } from '../src/config/manifest.js';
import type { CronJobStatus } from '../src/core/cron-status.js';
import { Store } from '../src/store/store.js';
import { git, initRepo } from './helpers/git.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * `cron:` jobs run by berthd. A minute lasts one second here (the hidden BERTH_CRON_MINUTE_MS), so
 * `* * * * *` runs every second: real schedules, real processes, no waiting for real minutes.
 */
const home = new TestHome('30300-30399');
Object.assign(home.env, { BERTH_CRON_MINUTE_MS: '1000' });
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const manifest = (app: string, cron: string) =>
  `app: ${app}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    env: { GREETING: hi-from-web }\n  docs:\n    static: .\ncron:\n${cron}`;

type Event = { kind: string; message: string };
const events = async (app: string) => home.json<Event[]>('events', app);
const data = (app: string) => path.join(home.home, 'data', app, 'production');

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
});
after(() => home.cleanup());

test('schedules: 5 fields or a nickname, in UTC; a wrong one names its field', () => {
  assert.equal(scheduleProblem('*/15 * * * *'), undefined);
  assert.equal(scheduleProblem('30 3 * * MON-FRI'), undefined);
  assert.equal(scheduleProblem('@daily'), undefined);
  assert.match(scheduleProblem('61 * * * *') ?? '', /the minute field "61" is not valid: it takes 0-59/);
  assert.match(scheduleProblem('0 24 * * *') ?? '', /the hour field "24"/);
  assert.match(scheduleProblem('0 0 * 13 *') ?? '', /the month field "13"/);
  assert.match(scheduleProblem('0 0 * * 8') ?? '', /the day-of-week field "8"/);
  assert.match(scheduleProblem('* * * *') ?? '', /expected 5 fields .* got 4/);
  assert.match(scheduleProblem('0 0 0 * * *') ?? '', /got 6/);
  assert.match(scheduleProblem('@reboot') ?? '', /unknown nickname/);
  assert.match(scheduleProblem('0 0 31 2 *') ?? '', /never comes/);
  const at = Date.UTC(2026, 11, 1, 16, 7, 30);
  assert.equal(nextDue('*/15 * * * *', at), Date.UTC(2026, 11, 1, 16, 15));
  assert.equal(nextDue('30 3 * * *', at), Date.UTC(2026, 11, 2, 3, 30), 'UTC, whatever the host zone');
  assert.equal(latestDue('*/15 * * * *', at, 60_000), undefined, 'due at 16:00: too long ago');
  assert.equal(latestDue('*/15 * * * *', Date.UTC(2026, 11, 1, 16, 15, 20), 60_000), Date.UTC(2026, 11, 1, 16, 15));
  const bad = `app: a\nservices:\n  web:\n    run: "true"\n  site:\n    static: .\ncron:\n  tick: { schedule: "*/15 25 * * *", run: "true" }\n  other: { schedule: "@hourly", run: "true", service: webb }\n  stat: { schedule: "@hourly", run: "true", service: site }\n`;
  assert.throws(
    () => parseManifest(bad, 'berth.yaml'),
    (err: Error) =>
      /berth\.yaml:8:\d+: cron\.tick\.schedule: "\*\/15 25 \* \* \*": the hour field "25" is not valid/.test(
        err.message,
      ) &&
      /cron\.other\.service: unknown service "webb"\n {2}hint: did you mean "web"\?/.test(err.message) &&
      /cron\.stat\.service: service "site" is static/.test(err.message),
  );
  const m = parseManifest(
    `app: a\nservices:\n  web:\n    run: "true"\ncron:\n  t: { schedule: "* * * * *", run: "echo hi" }\n`,
    'x',
  );
  assert.deepEqual(m.cron, [
    { name: 't', schedule: '* * * * *', argv: ['sh', '-c', 'echo hi'], service: 'web', overlap: false },
  ]);
});

test("a job runs on schedule in the current release with its service's env; output in its log; cron ls", async () => {
  // `later` is yearly: on this test's clock (a minute lasts a second) a daily job comes due every 24 real minutes,
  // and could run while the test looks at it.
  const cron = `  tick: { schedule: "* * * * *", run: 'echo "tick cwd=$(pwd) greeting=$GREETING data=$DATA_DIR port=\${PORT:-none}"' }\n  later: { schedule: "0 3 1 1 *", run: "true", service: web }\n`;
  assertOk(await home.cli('deploy', home.app('ticker', manifest('ticker', cron))));
  const release = path.join(home.home, 'releases', 'ticker', 'production', '1');
  const log = await waitFor('a run in the log', async () => {
    const r = await home.cli('logs', 'ticker', '--cron', 'tick', '-n', '1');
    return r.stdout.includes('tick ') ? r.stdout : undefined;
  });
  assert.equal(log, `tick cwd=${release} greeting=hi-from-web data=${data('ticker')} port=none\n`);
  const jobs = await waitFor('an ended run in cron ls', async () => {
    const j = await home.json<CronJobStatus[]>('cron', 'ls', 'ticker');
    return j[0]?.lastExit ? j : undefined;
  });
  assert.deepEqual(
    jobs.map((j) => [j.name, j.schedule, j.service]),
    [
      ['tick', '* * * * *', 'web'],
      ['later', '0 3 1 1 *', 'web'],
    ],
  );
  const [tick, later] = jobs as [CronJobStatus, CronJobStatus];
  assert.deepEqual([tick.lastExit?.status, tick.lastExit?.exitCode], ['succeeded', 0]);
  assert.ok(tick.nextRun !== null && tick.lastRun !== null && tick.nextRun > tick.lastRun.dueAt);
  assert.equal(later.lastRun, null);
  assert.equal(new Date(later.nextRun ?? 0).toISOString().slice(11), '03:00:00.000Z');
  const table = await home.cli('cron', 'ls', 'ticker');
  assert.match(table.stdout, /^JOB\s+SCHEDULE\s+SERVICE\s+LAST RUN\s+STATUS\s+EXIT\s+NEXT RUN\n/);
  assert.match(table.stdout, /\nlater\s+0 3 1 1 \*\s+web\s+-\s+never run\s+-\s+\S+T03:00Z/);
  const unknown = await home.cli('logs', 'ticker', '--cron', 'tik');
  assert.match(unknown.stderr, /ticker \(production\) has no cron job tik\n {2}hint: did you mean "tick"\?/);
});

test('a failing run is an event with its exit code and last lines', async () => {
  const cron = `  fail: { schedule: "* * * * *", run: "echo cannot reach the mail server >&2; exit 4" }\n`;
  assertOk(await home.cli('deploy', home.app('failer', manifest('failer', cron))));
  const failed = await waitFor('a cron.failed event', async () =>
    (await events('failer')).find((e) => e.kind === 'cron.failed'),
  );
  assert.match(
    failed.message,
    /^fail \(due \S+\) exited with code 4; last log lines:\n {2}cannot reach the mail server/,
  );
  const [job] = await home.json<CronJobStatus[]>('cron', 'ls', 'failer');
  assert.equal(job?.lastExit?.exitCode, 4);
  assert.match((await home.cli('cron', 'ls', 'failer')).stdout, /\nfail\s+\* \* \* \* \*\s+web\s+\S+\s+\w+\s+4\s/);
});

test('no overlap: a run due while the previous still runs is skipped and recorded', async () => {
  // Runs ~2.5 minutes of this clock; a second copy at once would find the lock and fail.
  const cron = `  long: { schedule: "* * * * *", run: 'mkdir "$DATA_DIR/lock" || exit 9; sleep 2.5; rmdir "$DATA_DIR/lock"' }\n`;
  assertOk(await home.cli('deploy', home.app('longer', manifest('longer', cron))));
  const skipped = await waitFor('a skip', async () => (await events('longer')).find((e) => e.kind === 'cron.skipped'));
  assert.match(skipped.message, /^long: skipped the run due \S+: the run due \S+ still runs \(pid \d+\)$/);
  await waitFor(
    'a run that ended',
    async () => (await home.json<CronJobStatus[]>('cron', 'ls', 'longer'))[0]?.lastExit,
  );
  assert.deepEqual(
    (await events('longer')).filter((e) => e.kind === 'cron.failed'),
    [],
    'no two runs at once',
  );
});

test('berth rm ends a job that still runs, and env rm of a preview too: none outlives its app', async () => {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const cron = `  hang: { schedule: "* * * * *", run: 'echo $$ > "$DATA_DIR/job.pid"; exec sleep 300' }\n`;
  assertOk(await home.cli('deploy', home.app('hanger', manifest('hanger', cron))));
  const pidOf = async (dir: string) =>
    waitFor('the job running', () => {
      try {
        const pid = Number(readFileSync(path.join(dir, 'job.pid'), 'utf8'));
        return pid > 0 && alive(pid) ? pid : undefined;
      } catch {
        return undefined;
      }
    });
  const pid = await pidOf(data('hanger'));
  assertOk(await home.cli('rm', 'hanger'));
  assert.equal(alive(pid), false, 'the job ended before berth rm returned');

  const previews = `${manifest('prev', cron)}environments:\n  production: { branch: main }\n  preview: { branch: "feature/*" }\n`;
  const dir = home.app('prev', previews);
  initRepo(dir, 'prev');
  git(dir, 'branch', '-q', 'feature/x', 'main');
  assertOk(await home.cli('deploy', dir));
  assertOk(await home.cli('deploy', dir, '--branch', 'feature/x'));
  const envs = await home.json<Array<{ name: string }>>('env', 'ls', 'prev');
  const preview = envs.find((e) => e.name !== 'production')?.name as string;
  const previewPid = await pidOf(path.join(home.home, 'data', 'prev', preview));
  const productionPid = await pidOf(data('prev'));
  assertOk(await home.cli('env', 'rm', 'prev', preview));
  assert.equal(alive(previewPid), false, "the preview's job ended with it");
  assert.equal(alive(productionPid), true, "production's job runs on");
  assertOk(await home.cli('rm', 'prev'));
  assert.equal(alive(productionPid), false);
});

test('berthd restarts (also killed) within a minute: the minute still runs once', async () => {
  home.env.BERTH_CRON_MINUTE_MS = '10000'; // a restart fits in a minute
  assertOk(await home.cli('daemon', 'stop'));
  const cron = `  count: { schedule: "* * * * *", run: 'echo x >> "$DATA_DIR/count"' }\n`;
  assertOk(await home.cli('deploy', home.app('counter', manifest('counter', cron))));
  const lines = () => {
    try {
      return readFileSync(path.join(data('counter'), 'count'), 'utf8')
        .split('\n')
        .filter(Boolean).length;
    } catch {
      return 0;
    }
  };
  // Right after a run, berthd is killed and started again: the new one starts within the minute that ran.
  await waitFor('a run', () => lines() > 0);
  process.kill(home.daemonPid() as number, 'SIGKILL');
  assertOk(await home.cli('daemon', 'start'));
  const seen = lines();
  await waitFor("the next minute's run", () => lines() > seen); // a second run of the killed minute would come first
  assertOk(await home.cli('daemon', 'stop'));
  assertOk(await home.cli('daemon', 'start'));
  assertOk(await home.cli('daemon', 'stop'));
  const store = await Store.openSqlite(path.join(home.home, 'berth.db'));
  try {
    const env = (await store.apps.environments({ app: 'counter' }))[0];
    const runs = async () =>
      (await store.cron.recent(env?.id as number, 'count', 1000)).filter((r) => r.status !== 'skipped');
    const claimed = await runs();
    assert.equal(new Set(claimed.map((r) => r.dueAt)).size, claimed.length);
    // A run claimed as berthd stopped may still be writing its line: wait for it, never for more.
    await waitFor('as many lines as claimed runs: no minute ran twice', async () => lines() === claimed.length);
    assert.equal(lines(), (await runs()).length);
  } finally {
    await store.close();
  }
  assertOk(await home.cli('daemon', 'start'));
});
