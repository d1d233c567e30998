import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApiClient } from '../src/api/client.js';
import { DAEMON_NODE_FLAGS } from '../src/cli/daemon-control.js';
import { Limiter } from '../src/core/limiter.js';
import { assertOk, BIN, NODE, REPO, sleep, TestHome, waitFor } from './helpers/home.js';

// Issue 14: supervision that costs nothing while nothing happens, and large deploys that stay responsive.
const home = new TestHome('29500-29599');
after(() => home.cleanup());
/** Every process berthd spawns on its main thread (test/fixtures/main-thread-spy.mjs). */
const SPY_FILE = path.join(home.root, 'main-thread.log');
Object.assign(home.env, {
  BERTH_DAEMON_NODE_FLAGS: `${DAEMON_NODE_FLAGS} --import=${path.join(REPO, 'test', 'fixtures', 'main-thread-spy.mjs')}`,
  BERTH_SPY_FILE: SPY_FILE,
  BERTH_SPY_SPAWNS: '1',
});

const scans = async () => (await home.json<{ procScans: number }>('daemon', 'status')).procScans;
const SERVER = `require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')`;

function manifest(app: string, sleepers: number, servers: number, interval = '200ms'): string {
  const health = `    health:\n      interval: ${interval}\n`;
  const s = [
    ...Array.from(
      { length: sleepers },
      (_, i) => `  sleep${i}:\n    run: ["/bin/sleep", "100000"]\n    port: none\n${health}`,
    ),
    ...Array.from({ length: servers }, (_, i) => `  web${i}:\n    run: ["${NODE}", "-e", "${SERVER}"]\n${health}`),
  ];
  return `app: ${app}\nservices:\n${s.join('')}`;
}

test('healthy instances are watched without reading /proc: no scan while nothing happens', async () => {
  assertOk(await home.cli('up', home.app('quiet', manifest('quiet', 10, 5))));
  const before = await scans();
  // Every instance is probed 10 times over (interval 200 ms): by the old way, each probe of a
  // `process` service read the whole of /proc, so this counted dozens of scans.
  await sleep(2000);
  assert.equal((await scans()) - before, 0, 'scans of /proc by an idle berthd');
  const ps = await home.json<Array<{ state: string }>>('ps');
  assert.equal(ps.filter((r) => r.state === 'healthy').length, 15);
});

test('stopping many instances at once reads /proc once for all of them, not per instance', async () => {
  assertOk(await home.cli('up', home.app('many', manifest('many', 40, 0, '10s'))));
  const before = await scans();
  assertOk(await home.cli('rm', 'many'));
  const used = (await scans()) - before;
  assert.ok(used <= 2, `removing 40 instances took ${used} scans of /proc (one per batch expected)`);
  assert.equal((await home.json<Array<{ app: string }>>('ps')).filter((r) => r.app === 'many').length, 0);
});

test('a deployment goes on when its client goes away, and ends as it would have', async () => {
  // It listens only once the test opens the gate: the client is surely gone while the deploy waits for it.
  const gate = path.join(home.root, 'gone-gate');
  const slow = `const t = setInterval(() => { if (require('fs').existsSync(${JSON.stringify(gate).replace(/"/g, "'")})) { clearInterval(t); ${SERVER} } }, 50)`;
  const dir = home.app('gone', `app: gone\nservices:\n  web:\n    run: ["${NODE}", "-e", "${slow}"]\n`);
  const client = spawn(NODE, [BIN, 'up', dir], { env: home.env, stdio: 'ignore' });
  await waitFor('the new instance to be starting', async () =>
    (await home.json<Array<{ app: string; state: string }>>('ps')).some(
      (r) => r.app === 'gone' && r.state === 'starting',
    ),
  );
  client.kill('SIGKILL');
  await new Promise((r) => client.once('exit', r));
  writeFileSync(gate, '');
  const r = await waitFor('the deployment to end', async () => {
    const d = (await home.json<{ deployments: Array<{ status: string }> }>('releases', 'gone')).deployments[0];
    return d && d.status !== 'running' ? d : undefined;
  });
  assert.equal(r.status, 'succeeded');
  const ps = await home.json<Array<{ app: string; state: string }>>('ps');
  assert.deepEqual(
    ps.filter((x) => x.app === 'gone').map((x) => x.state),
    ['healthy'],
  );
});

test('a broken connection to a berthd that kept running is told as such, not as a restart', async () => {
  const socket = path.join(home.root, 'fake-berthd.sock');
  const server = createServer((req, res) => {
    if (req.url === '/v1/daemon') res.end(JSON.stringify({ pid: 4242, uptimeMs: 3_600_000 }));
    else req.socket.destroy(); // cut in the middle of the request, as a proxy in between might
  });
  await new Promise<void>((r) => server.listen(socket, r));
  try {
    const client = new ApiClient(socket);
    await assert.rejects(client.call('POST', '/v1/deployments', { app: 'x' }), (err: Error) => {
      assert.match(err.message, /berthd kept running \(pid 4242\)/);
      assert.doesNotMatch(err.message, /stopped or restarted/);
      return true;
    });
  } finally {
    server.close();
  }
});

test('berthd answers while a big wave starts: ps sees it half-way, not only once every instance is spawned', async () => {
  const n = 150;
  const dir = home.app('wave', manifest('wave', n, 0, '10s'));
  const client = spawn(NODE, [BIN, 'up', dir], { env: home.env, stdio: 'ignore' });
  const exited = new Promise((r) => client.once('exit', r));
  const running = () => client.exitCode === null;
  const seen: number[] = [];
  // Before, a wave was one chain of promises: no request was read until the last instance had spawned. Asked
  // over the socket as `berth ps` asks (a CLI per sample, ~0.2 s each, saw a quick wave only before and after).
  const api = new ApiClient(path.join(home.home, 'berthd.sock'));
  while (running()) {
    const rows = await api
      .call<Array<{ app: string; pid: number | null }>>('GET', '/v1/apps/wave/instances')
      .catch(() => []);
    if (running()) seen.push(rows.filter((r) => r.pid !== null).length);
  }
  await api.close();
  assert.equal(await exited, 0);
  assert.ok(
    seen.some((spawned) => spawned > 0 && spawned < n),
    `ps during the deploy saw these numbers of spawned instances: ${seen.join(', ')}`,
  );
  // A spawn holds its thread until the exec: none of the wave's happened on the event loop.
  const mainSpawns = existsSync(SPY_FILE) ? readFileSync(SPY_FILE, 'utf8') : '';
  assert.doesNotMatch(mainSpawns, /log-writer|\/bin\/sleep/, 'instances and log writers start in a launcher');
  assertOk(await home.cli('rm', 'wave'));
});

test('instances and their log writers are forked by a small launcher, never by berthd itself', async () => {
  assertOk(await home.cli('up', home.app('forks', manifest('forks', 3, 0, '10s'))));
  const berthd = home.daemonPid() as number;
  const parent = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  };
  const exe = (pid: number) => readlinkSync(`/proc/${pid}/exe`);
  const rows = (await home.json<Array<{ app: string; pid: number }>>('ps')).filter((r) => r.app === 'forks');
  assert.equal(rows.length, 3);
  // A fork copies the page tables of who forks: berthd's (~100 MiB) cost ~7 ms of CPU per spawn, two per instance.
  const writers = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return exe(pid).endsWith('/native/log-writer') && parent(parent(pid)) === berthd;
      } catch {
        return false; // gone meanwhile
      }
    });
  for (const pid of [...rows.map((r) => r.pid), ...writers]) {
    assert.notEqual(parent(pid), berthd, `process ${pid} (${exe(pid)}) was forked by berthd`);
    assert.match(exe(parent(pid)), /\/native\/launcher$/);
    assert.equal(parent(parent(pid)), berthd);
  }
  assert.ok(writers.length >= 3, `log writers started by berthd's launchers: ${writers.length}`);
  // Their exits still reach berthd at once: a killed instance is restarted.
  process.kill((rows[0] as { pid: number }).pid, 'SIGKILL');
  await waitFor('the killed instance restarted', async () =>
    (await home.json<Array<{ app: string; pid: number | null; restarts: number }>>('ps')).find(
      (v) => v.app === 'forks' && v.pid !== null && v.pid !== rows[0]?.pid && v.restarts >= 1,
    ),
  );
  assertOk(await home.cli('rm', 'forks'));
});

test('a big wave records its instances a few at a time, with requests answered in between', async () => {
  const n = 150;
  const dir = home.app('record', manifest('record', n, 0, '10s'));
  assertOk(await home.cli('ps')); // berthd runs before the deploy begins
  const api = new ApiClient(path.join(home.home, 'berthd.sock'));
  const client = spawn(NODE, [BIN, 'up', dir], { env: home.env, stdio: 'ignore' });
  const exited = new Promise((r) => client.once('exit', r));
  const counts = new Set<number>();
  // Before, the wave recorded all its instances (and marked them to run) in one chain of promises:
  // a request could only see none of them or all of them.
  while (client.exitCode === null)
    counts.add(
      (await api.call<Array<{ app: string }>>('GET', '/v1/instances')).filter((r) => r.app === 'record').length,
    );
  assert.equal(await exited, 0);
  assert.ok(
    [...counts].some((c) => c > 0 && c < n),
    `numbers of recorded instances seen during the deploy: ${[...counts].join(', ')}`,
  );
  assertOk(await home.cli('rm', 'record'));
});

test('a wave and a removal commit a few times per instance, not at every state change', async () => {
  const n = 60;
  type Counters = { statements: number; commits: number };
  const store = async () => (await home.json<{ store: Counters }>('daemon', 'status')).store;
  const dir = home.app('commits', manifest('commits', n, 0, '10s'));
  assertOk(await home.cli('ps')); // berthd runs before the deploy begins
  const before = await store();
  assertOk(await home.cli('up', dir));
  const up = await store();
  assertOk(await home.cli('rm', 'commits'));
  const rm = await store();
  // Before, each state change (and its event) was a commit of its own: 7 per instance to start, 6 to remove.
  // Now a change and its event are one, shared with the other instances' changes of the same turn: at worst 4 each.
  const perInstance = (a: Counters, b: Counters) => (b.commits - a.commits) / n;
  assert.ok(perInstance(before, up) <= 4.5, `commits per instance started: ${perInstance(before, up)}`);
  assert.ok(perInstance(up, rm) <= 4.5, `commits per instance removed: ${perInstance(up, rm)}`);
  // Listing reads the store once for all instances, not once per instance.
  const listed = await store();
  assertOk(await home.cli('ps'));
  const statements = (await store()).statements - listed.statements;
  assert.ok(statements <= 10, `statements of one ps (and the status call): ${statements}`);
});

test('a limiter runs at most its limit at once and every task in the end', async () => {
  const limiter = new Limiter(3);
  let running = 0;
  let most = 0;
  const done = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      limiter.run(async () => {
        most = Math.max(most, ++running);
        await sleep(i % 4);
        running--;
        return i;
      }),
    ),
  );
  assert.equal(most, 3);
  assert.deepEqual(
    done,
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.deepEqual(limiter.load, { running: 0, waiting: 0 });
});
