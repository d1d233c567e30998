import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { InstanceStatus } from '../src/core/results.js';
import { procStat } from '../src/system/proc.js';
import { TestDockerd, withEngine } from './helpers/dockerd.js';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, sleep, TestHome, waitFor } from './helpers/home.js';

/**
 * Containers have the lifecycle of processes: `port: none` workers and `strategy: recreate`
 * services deploy, redeploy and stop; a container that exits is restarted by Berth (the engine's
 * policy is "no") with backoff, up to a crashloop; a restarted berthd adopts running containers
 * (same id, not restarted), reads what an ended one wrote while it was away, and removes those of
 * no instance; `berth logs` keeps a container's output after it is gone, within the log caps.
 */
const home = new TestHome('32350-32398');
/** Not home.httpPort: test/container-crash's range is of the same hundred, and has it. */
const P = 32399;
home.env.BERTH_HTTP_PORT = String(P);
const dockerd = new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-')));
const HOME_LABEL = createHash('sha256').update(home.home).digest('hex').slice(0, 12);
const LOG_MAX = 16 * 1024;
const IMAGE = 'berth-test/box:1';

withEngine(home, dockerd, async () => {
  mkdirSync(home.home, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(home.home, 'config.yaml'), `log_max_bytes: ${LOG_MAX}\nlog_keep: 2\n`);
  await dockerd.buildImage(IMAGE, { health: 'ok\n' });
});

interface Inspected {
  Id: string;
  Name: string;
  State: { Running: boolean; Pid: number; StartedAt: string; ExitCode: number };
  RestartCount: number;
  Config: { Labels: Record<string, string>; ExposedPorts?: Record<string, unknown> | null };
  HostConfig: { RestartPolicy: { Name: string }; PortBindings?: Record<string, unknown> | null };
}

/** The containers of one app of this home on the engine, stopped ones included. */
async function containers(app: string): Promise<Inspected[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`berth.home=${HOME_LABEL}`, `berth.app=${app}`] }));
  const list = await dockerd.engine.call<{ Id: string }[]>('GET', `/containers/json?all=true&filters=${filters}`);
  return Promise.all(list.map((c) => dockerd.engine.call<Inspected>('GET', `/containers/${c.Id}/json`)));
}

const ps = (app: string) => home.json<InstanceStatus[]>('ps', app);
const logs = async (app: string, ...args: string[]) => (await home.cli('logs', app, ...args)).stdout;
const dataDir = (app: string) => path.join(home.home, 'data', app, 'production');

async function killDaemon(): Promise<void> {
  const pid = home.daemonPid() as number;
  process.kill(pid, 'SIGKILL');
  await waitFor('berthd to die', () => !isAlive(pid) || procStat(pid)?.state === 'Z');
}

/** Both say so when they start and when SIGTERM stops them, in their log and in $DATA_DIR/work/ran. */
const crew = (version: number) => `app: crew
services:
  web:
    image: ${IMAGE}
    container_port: 8080
    strategy: recreate
    run: 'echo ${version} > /www/v; echo "web ${version} up"; trap "echo web ${version} bye; exit 0" TERM; httpd -f -p 8080 -h /www & wait'
    health: { http: /health }
    stop_timeout: 5s
    routes: [crew.test]
  worker:
    image: ${IMAGE}
    port: none
    run: 'echo "worker ${version} up"; echo "up ${version}" >> /data/ran; trap "echo worker ${version} bye; echo bye ${version} >> /data/ran; exit 0" TERM; sleep 600 & wait'
    volumes: { /data: work }
    stop_timeout: 5s
`;

test('a port: none worker and a strategy: recreate service as containers: deploy, redeploy (old stopped first), stop; their output stays in berth logs', async () => {
  const dir = home.app('crew', crew(1));
  assertOk(await home.cli('deploy', dir));
  const first = await ps('crew');
  assert.deepEqual(first.map((s) => [s.service, s.state, s.image]).sort(), [
    ['web', 'healthy', IMAGE],
    ['worker', 'healthy', IMAGE],
  ]);
  assert.equal(first.find((s) => s.service === 'worker')?.port, null, 'a worker has no port');
  const worker = (await containers('crew')).find((c) => c.Config.Labels['berth.service'] === 'worker');
  assert.ok(worker);
  assert.deepEqual(worker.HostConfig.PortBindings ?? {}, {}, 'a worker publishes nothing');
  assert.equal(worker.HostConfig.RestartPolicy.Name, 'no');
  assert.equal((await hit(P, 'crew.test', '/v')).text(), '1\n');

  writeFileSync(path.join(dir, 'berth.yaml'), crew(2));
  const r = await home.json<{ steps: { name: string; detail?: string }[] }>('deploy', dir);
  assert.match(r.steps.map((s) => s.detail ?? '').join(' '), /down until the switch \(strategy recreate/);
  assert.equal((await hit(P, 'crew.test', '/v')).text(), '2\n');
  // Recreate: the old worker was stopped (and said so) before the new one started.
  assert.equal(readFileSync(path.join(dataDir('crew'), 'work', 'ran'), 'utf8'), 'up 1\nbye 1\nup 2\n');
  const live = await containers('crew');
  assert.deepEqual(live.map((c) => c.Config.Labels['berth.release']).sort(), ['2', '2'], 'release 1 is removed');
  // What release 1's containers wrote, up to their last words, is kept though they are gone.
  const old = await logs('crew', '--release', '1');
  for (const line of ['web 1 up', 'web 1 bye', 'worker 1 up', 'worker 1 bye']) assert.match(old, new RegExp(line));

  assertOk(await home.cli('stop', 'crew'));
  assert.deepEqual(await containers('crew'), [], 'stopped: no container is left on the engine');
  assert.ok((await ps('crew')).every((s) => s.state === 'stopped'));
  const now = await logs('crew');
  for (const line of ['web 2 up', 'web 2 bye', 'worker 2 up', 'worker 2 bye']) assert.match(now, new RegExp(line));
});

test('a container that keeps exiting is restarted by Berth with backoff, then reported in crashloop; every run of it is in its log', async () => {
  const dir = home.app(
    'crashy',
    `app: crashy
services:
  job:
    image: ${IMAGE}
    port: none
    run: 'echo "run"; while [ ! -f /data/crash ]; do sleep 0.1; done; echo "boom"; exit 3'
    volumes: { /data: flag }
`,
  );
  assertOk(await home.cli('deploy', dir));
  const [first] = await containers('crashy');
  assert.equal(first?.HostConfig.RestartPolicy.Name, 'no', 'the engine never restarts it: Berth does');
  writeFileSync(path.join(dataDir('crashy'), 'flag', 'crash'), '');
  const row = await waitFor(
    'a crashloop',
    async () => (await ps('crashy')).find((s) => s.state === 'crashloop'),
    120_000,
  );
  assert.ok(row.restarts >= 4, `restarts: ${row.restarts}`);
  assert.equal(row.lastExit?.code, 3);
  assert.ok(row.lastLines?.includes('boom'), JSON.stringify(row.lastLines));
  // Each run is a new container, removed when it exits (between runs there is none); the engine restarted none.
  for (const c of await containers('crashy')) {
    assert.notEqual(c.Id, first.Id);
    assert.equal(c.RestartCount, 0);
  }
  // The delays grow (0, 250, 500, 1000 ms, ...): the events say how long each restart waits.
  const events = (await home.cli('events', 'crashy')).stdout;
  const delays = [...events.matchAll(/restart in (\d+) ms/g)].map((m) => Number(m[1]));
  assert.deepEqual(delays.slice(0, 4), [0, 250, 500, 1000], events);
  // Every run's output, though each container was removed as it exited: one "run" and one "boom" per run.
  // A run's output reaches the log a moment after the run starts: wait for a moment when the log
  // holds one "run" and one "boom" per run so far (output lost would never get there).
  const count = (lines: string[], word: string) => lines.filter((l) => l.endsWith(word)).length;
  let last = '';
  await waitFor(
    'every run of the job in its log',
    async () => {
      const a = (await ps('crashy'))[0];
      const lines = (await logs('crashy', '--lines', '1000')).split('\n');
      const b = (await ps('crashy'))[0];
      last = `restarts ${a?.restarts}, ${b?.restarts}:\n${lines.join('\n')}`;
      return (
        a !== undefined &&
        b?.restarts === a.restarts &&
        count(lines, 'run') === a.restarts + 1 &&
        count(lines, 'boom') === a.restarts + 1
      );
    },
    60_000,
  ).catch((err: unknown) => assert.fail(`${String(err)}\n${last}`));
  assertOk(await home.cli('rm', 'crashy'));
  assert.deepEqual(await containers('crashy'), []);
});

const steady = `app: steady
services:
  web:
    image: ${IMAGE}
    container_port: 8080
    health: { http: /health }
    routes: [steady.test]
  worker:
    image: ${IMAGE}
    port: none
    run: 'echo "worker up"; while [ ! -f /data/stop ]; do sleep 0.1; done; rm /data/stop; echo "worker saw stop"; exit 4'
    volumes: { /data: work }
`;

test('a restarted berthd adopts running containers (same id, not restarted), reads what an ended one wrote meanwhile, removes those of no instance', async () => {
  assertOk(await home.cli('deploy', home.app('steady', steady)));
  const before = await ps('steady');
  const web = (await containers('steady')).find((c) => c.Config.Labels['berth.service'] === 'web');
  assert.ok(web?.State.Running);
  await waitFor('the worker up', async () => (await logs('steady')).includes('worker up'));
  await killDaemon();
  // While berthd is away: the worker writes and exits, and a container of this home with no instance appears.
  writeFileSync(path.join(dataDir('steady'), 'work', 'stop'), '');
  const labels = { 'berth.home': HOME_LABEL, 'berth.app': 'steady', 'berth.instance': `${HOME_LABEL}:999999` };
  const stray = await dockerd.engine.call<{ Id: string }>('POST', '/containers/create?name=berth-stray', {
    Image: IMAGE,
    Cmd: ['sleep', '600'],
    Labels: labels,
  });
  await dockerd.engine.call('POST', `/containers/${stray.Id}/start`);
  await waitFor('the worker exited', async () => (await containers('steady')).some((c) => !c.State.Running));
  assert.equal((await hit(P, 'steady.test', '/health')).status, 200, 'traffic never depends on berthd');
  assertOk(await home.cli('daemon', 'start'));

  const again = await waitFor('the worker restarted', async () => {
    const rows = await ps('steady');
    return rows.every((s) => s.state === 'healthy') && rows.find((s) => s.service === 'worker')?.restarts === 1
      ? rows
      : undefined;
  });
  const [webBefore, webAfter] = [before, again].map((rows) => rows.find((s) => s.service === 'web'));
  assert.ok(webAfter && webBefore);
  assert.equal(webAfter.restarts, 0);
  assert.equal(webAfter.pid, webBefore.pid);
  const now = await dockerd.engine.call<Inspected>('GET', `/containers/${web.Id}/json`);
  assert.equal(now.State.StartedAt, web.State.StartedAt, 'the same container, never restarted');
  assert.equal(now.RestartCount, 0);
  // The worker's exit: its status from the engine, its last words in its log though it was removed.
  assert.equal(again.find((s) => s.service === 'worker')?.lastExit?.code, 4);
  assert.match(await logs('steady', 'worker'), /worker saw stop/);
  const left = await containers('steady');
  assert.deepEqual(left.map((c) => c.Config.Labels['berth.service']).sort(), ['web', 'worker'], 'the stray is gone');
  assert.ok(left.some((c) => c.Id === web.Id));
  assertOk(await home.cli('rm', 'steady'));
});

/** What the app's instance logs hold: each file once, by inode (a rotation renames while we look). */
function logDirBytes(app: string): { bytes: number; files: string[] } {
  const dir = path.join(home.home, 'logs', app, 'production');
  const sizes = new Map<number, number>();
  const files = readdirSync(dir).filter((f) => f.startsWith('flood.')); // not the build (pull) log
  for (const f of files) {
    try {
      const st = statSync(path.join(dir, f));
      sizes.set(st.ino, st.size);
    } catch {
      // rotated away meanwhile
    }
  }
  return { bytes: [...sizes.values()].reduce((a, b) => a + b, 0), files };
}

test("a container's output is rotated and capped like a process's (log_max_bytes x (log_keep + 1)), with berthd and after it was away", async () => {
  const line = 'x'.repeat(100);
  assertOk(
    await home.cli(
      'deploy',
      home.app(
        'noisy',
        `app: noisy\nservices:\n  flood:\n    image: ${IMAGE}\n    port: none\n    run: 'while true; do i=0; while [ $i -lt 100 ]; do echo "flood ${line}"; i=$((i+1)); done; sleep 0.05; done'\n`,
      ),
    ),
  );
  const budget = LOG_MAX * 3 + 1024;
  const within = () => {
    const { bytes, files } = logDirBytes('noisy');
    assert.ok(bytes <= budget && files.length <= 3, `${bytes} bytes in ${files.join(', ')}; budget ${budget}`);
  };
  await waitFor('two rotated logs', () => logDirBytes('noisy').files.length === 3);
  for (let i = 0; i < 20; i++, await sleep(100)) within();
  await killDaemon();
  await sleep(1000); // the engine keeps its output meanwhile
  assertOk(await home.cli('daemon', 'start'));
  for (let i = 0; i < 20; i++, await sleep(100)) within();
  assertOk(await home.cli('stop', 'noisy'));
  within();
  const lines = (await logs('noisy', '--lines', '3')).trimEnd().split('\n');
  assert.equal(lines.length, 3);
  for (const l of lines) assert.equal(l, `flood ${line}`);
  assertOk(await home.cli('rm', 'noisy'));
});
