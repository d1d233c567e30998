/**
 * Two berthd (two BERTH_HOMEs, as on two managers) sharing one PostgreSQL store: one leads through
 * the database's advisory lock, the other answers reads and refuses changes naming the leader;
 * the leader killed with SIGKILL in a deploy, the other takes over and recovers that deploy once.
 */
import assert from 'node:assert/strict';
import { loadavg } from 'node:os';
import { after, before, test } from 'node:test';
import { listPids, procEnvValue, procStat } from '../src/system/proc.js';
import { assertOk, TestHome, waitFor } from './helpers/home.js';
import { isAlive } from './helpers/http.js';
import { postgresSkip, TestPostgres } from './helpers/test-postgres.js';

const LEADER_PG_PORT = 31499;
/** The follower's proxy port: both homes' ranges are in one hundred, so the second one's is set. */
const FOLLOWER_HTTP_PORT = 18007;
const a = new TestHome('31400-31449');
const b = new TestHome('31450-31489');
b.env.BERTH_HTTP_PORT = String(FOLLOWER_HTTP_PORT);
const postgres = new TestPostgres(LEADER_PG_PORT, 'berth-pgs-leader');
/** "Within seconds": from the leader's death to the other's recovery of its deploy, on a loaded machine too. */
const HANDOVER_BOUND_MS = 15_000;

before(async () => {
  if (postgresSkip) return;
  await postgres.start();
  const url = await postgres.database();
  for (const home of [a, b]) {
    home.env.BERTH_STORE_URL = url;
    home.env.BERTH_DAEMON_START_TIMEOUT_MS = '120000';
  }
});
after(async () => {
  if (postgresSkip) return;
  await b.cleanup(); // the leader by then: it removes the apps
  await a.cleanup();
  await postgres.stop();
});

interface Info {
  pid: number;
  leadership: string;
}

/** Processes started for this test's apps that are still alive. */
function appProcesses(): number[] {
  return listPids().filter(
    (pid) => procStat(pid)?.state !== 'Z' && procEnvValue(pid, 'BERTH_TEST_HOME') === a.home && pid !== process.pid,
  );
}

async function interrupted(): Promise<number> {
  const rows = await postgres.sql(
    "select count(*)::int as n from events where app = 'worker' and kind = 'deployment.interrupted'",
    'berth_1',
  );
  return rows[0]?.n as number;
}

test(
  'two berthd on one PostgreSQL store: one leads; the other serves reads and refuses changes naming the leader',
  { skip: postgresSkip },
  async () => {
    // The leader dies (SIGKILL, by its own hand) right after the first wave of the next deploy it runs.
    assertOk(await a.run(['daemon', 'start'], { env: { ...a.env, BERTH_CRASH_AT: '2:after' } }), 'a');
    assertOk(await b.cli('daemon', 'start'), 'b');
    const [infoA, infoB] = [await a.json<Info>('daemon', 'status'), await b.json<Info>('daemon', 'status')];
    assert.deepEqual([infoA.leadership, infoB.leadership], ['leader', 'follower']);
    const dir = b.app('worker', manifest());
    const refused = await b.cli('deploy', dir);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, new RegExp(`does not lead: berthd \\S+ pid ${infoA.pid} acts`));
    assert.deepEqual(await b.json('ps'), [], 'reads are served');
  },
);

test(
  'kill -9 of the leader in a deploy: the follower leads within seconds and recovers that deploy once',
  { skip: postgresSkip },
  async (t) => {
    const leader = (await a.json<Info>('daemon', 'status')).pid;
    const r = await a.cli('deploy', a.app('worker', manifest()));
    assert.notEqual(r.code, 0, `the deploy should have been cut off: ${r.stdout}`);
    const killedAt = Date.now();
    await waitFor('the leader to be dead', () => !isAlive(leader) || procStat(leader)?.state === 'Z');
    await waitFor(
      'the other berthd to recover the deploy',
      async () => (await interrupted()) > 0,
      HANDOVER_BOUND_MS,
      25,
    );
    const handover = Date.now() - killedAt;
    assert.ok(handover < HANDOVER_BOUND_MS, `handed over in ${handover} ms`);
    t.diagnostic(`handed over and recovered in ${handover} ms (load average ${loadavg()[0]?.toFixed(1)})`);
    assert.equal((await b.json<Info>('daemon', 'status')).leadership, 'leader');
    await waitFor('the cut-off deploy to be undone (its worker stopped)', () => appProcesses().length === 0);
    // It acts: a deploy through it goes, and its worker runs.
    assertOk(await b.cli('deploy', b.app('worker', manifest())), 'deploy through the new leader');
    await waitFor('the worker to run', () => appProcesses().length === 1);
    // Once: a restart recovers nothing more.
    assertOk(await b.cli('daemon', 'stop'));
    assertOk(await b.cli('daemon', 'start'));
    assert.equal((await b.json<Info>('daemon', 'status')).leadership, 'leader');
    assert.equal(await interrupted(), 1);
    const attempts = await postgres.sql('select number, status from release_attempts order by number', 'berth_1');
    assert.deepEqual(attempts, [
      { number: 1, status: 'interrupted' },
      { number: 2, status: 'succeeded' },
    ]);
  },
);

function manifest(): string {
  return `app: worker
services:
  jobs:
    run: "exec sleep 600"
    port: none
    env: { BERTH_TEST_HOME: "${a.home}" }
`;
}
