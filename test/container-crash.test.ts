import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { InstanceStatus } from '../src/core/results.js';
import { Store } from '../src/store/store.js';
import { TestDockerd, withEngine } from './helpers/dockerd.js';
import { hit } from './helpers/http.js';
import { assertRecovered, crashingDeploy, startArmed, type CrashPoint } from './helpers/crash-points.js';
import { assertOk, TestHome, waitFor } from './helpers/home.js';

/**
 * test/deploy-crash for a container app: berthd is killed (SIGKILL) before or after each step of a
 * deploy, and after a restart the deploy is finished (killed after the switch) or fully undone
 * (before it): the right release serves, the engine holds this home's three containers and no
 * other (by label, stopped ones included), no lease leaked, no image of an undone release left.
 * `api` is an `image:` service, `web` a `build:` one, `jobs` an `image:` worker with `port: none`
 * (strategy recreate: stopped first, started again by an undo). Each step is covered once by
 * default (the side where more has happened); CONTAINER_CRASH=all kills at both sides of every step.
 */
const home = new TestHome('32300-32349');
const P = home.httpPort;
// Each restart recovers a cut-off deploy before berthd answers: on a loaded machine that can take longer than 15 s.
home.env.BERTH_DAEMON_START_TIMEOUT_MS = '120000';
const dockerd = new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-')));
const HOME_LABEL = createHash('sha256').update(home.home).digest('hex').slice(0, 12);

withEngine(home, dockerd, async () => {
  await dockerd.buildImage('berth-test/web:1', { health: 'ok\n' });
});

const manifest = (version: number) => `app: boxcrash
services:
  api:
    image: berth-test/web:1
    container_port: 8080
    run: 'echo ${version} > /www/v; exec httpd -f -p 8080 -h /www'
    health: { http: /health }
    drain: 1s
    stop_timeout: 1s
    routes: [{ host: boxcrash.test, path: /api/, strip: true }]
  web:
    build: { context: site }
    container_port: 8080
    health: { http: /health }
    drain: 1s
    stop_timeout: 1s
    depends_on: [api]
    routes: [boxcrash.test]
  jobs:
    image: berth-test/web:1
    port: none
    run: 'echo ${version} >> /data/ran; trap "exit 0" TERM; while true; do sleep 1; done'
    volumes: { /data: jobs }
    stop_timeout: 1s
`;
const STEPS = [
  'snapshot',
  'pull', // of api and jobs: their image is on the engine, so nothing is fetched
  'build',
  'record release',
  'start wave 1',
  'start wave 2',
  'start wave 3', // jobs: a recreate worker starts last
  'switch traffic',
  'drain',
  'stop release',
  'prune',
];
const SWITCH = STEPS.indexOf('switch traffic');
/** One crash per step by default: after it where it acts before the switch, the switch both ways, before it after. */
const POINTS: CrashPoint[] = STEPS.flatMap((_, i): CrashPoint[] =>
  (process.env.CONTAINER_CRASH === 'all' || i === SWITCH
    ? (['before', 'after'] as const)
    : [i < SWITCH ? ('after' as const) : ('before' as const)]
  ).map((when) => ({ i, when })),
);

interface Inspected {
  Id: string;
  State: { Running: boolean; Pid: number; StartedAt: string };
  Config: { Labels: Record<string, string> };
}

/** Every container of this home on the engine, stopped ones included. */
async function containers(): Promise<Inspected[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`berth.home=${HOME_LABEL}`] }));
  const list = await dockerd.engine.call<{ Id: string }[]>('GET', `/containers/json?all=true&filters=${filters}`);
  return Promise.all(list.map((c) => dockerd.engine.call<Inspected>('GET', `/containers/${c.Id}/json`)));
}

const ALL = ['api', 'web', 'jobs'];

/** Each service's container, as "<id> <started at>". */
function byService(list: readonly Inspected[]): Map<string, string> {
  return new Map(list.map((c) => [c.Config.Labels['berth.service'] ?? '', `${c.Id} ${c.State.StartedAt}`]));
}

/** The release numbers of the app's built images (berth/boxcrash-production:<release>). */
async function imageReleases(): Promise<number[]> {
  const list = await dockerd.engine.call<{ RepoTags: string[] | null }[]>('GET', '/images/json');
  return list
    .flatMap((i) => i.RepoTags ?? [])
    .filter((t) => t.startsWith('berth/boxcrash-production:'))
    .map((t) => Number(t.split(':')[1]))
    .sort((a, b) => a - b);
}

const dir = home.app('boxcrash', manifest(1), {
  'site/Dockerfile': 'FROM berth-test/web:1\nCOPY v /www/v\n',
  'site/v': '1\n',
});

function writeVersion(version: number): void {
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(version));
  writeFileSync(path.join(dir, 'site', 'v'), `${version}\n`);
}

test('berthd killed at every step of a container deploy: after a restart the right release serves, and the engine holds nothing else', async () => {
  assertOk(await home.cli('deploy', dir));
  assertOk(await home.cli('daemon', 'stop'));
  await startArmed(home, POINTS[0], 'armed for the first point');
  let serving = 1;
  let version = 1;
  for (const [k, { i, when }] of POINTS.entries()) {
    const label = `crash ${when} step ${i} (${STEPS[i]})`;
    version++;
    writeVersion(version);
    const running = byService(await containers());
    await crashingDeploy(home, dir, POINTS[k + 1], label);
    const switched = i > SWITCH || (i === SWITCH && when === 'after');
    if (switched) serving = version;
    await assertRecovered(home, 'boxcrash', switched, label);
    const ps = await waitFor(`${label}: all instances healthy`, async () => {
      const rows = await home.json<InstanceStatus[]>('ps', 'boxcrash');
      return rows.length === 3 && rows.every((s) => s.state === 'healthy' && s.current) ? rows : undefined;
    });
    assert.equal(
      (await hit(P, 'boxcrash.test', '/v')).text(),
      `${serving}\n`,
      `${label}: web serves the wrong release`,
    );
    assert.equal((await hit(P, 'boxcrash.test', '/api/v')).text(), `${serving}\n`, `${label}: api, wrong release`);
    const ran = readFileSync(path.join(home.home, 'data', 'boxcrash', 'production', 'jobs', 'ran'), 'utf8');
    assert.equal(ran.trim().split('\n').at(-1), String(serving), `${label}: the worker last ran the wrong release`);
    // The engine: the three serving containers, running, none of another release, none stopped and left.
    const live = await waitFor(`${label}: no leftover container`, async () => {
      const all = await containers();
      return all.length === 3 ? all : undefined;
    });
    assert.ok(
      live.every((c) => c.State.Running),
      label,
    );
    assert.deepEqual(
      live.map((c) => c.State.Pid).sort(),
      ps.map((s) => s.pid).sort(),
      `${label}: containers are not the instances`,
    );
    assert.deepEqual(
      live.map((c) => Number(c.Config.Labels['berth.release'])).sort(),
      ps.map((s) => s.release).sort(),
      label,
    );
    // Adopted, not restarted: a container the deploy did not replace is the same one, started once.
    const now = byService(live);
    const wave3 = STEPS.indexOf('start wave 3'); // jobs (recreate): stopped there, started again by its undo
    const kept = switched ? [] : i < wave3 || (i === wave3 && when === 'before') ? ALL : ['api', 'web'];
    for (const service of ALL)
      assert.equal(now.get(service), kept.includes(service) ? running.get(service) : now.get(service), label);
    for (const service of ALL.filter((x) => !kept.includes(x)))
      assert.notEqual(now.get(service), running.get(service), `${label}: ${service} was not replaced`);
    const release = ps.find((s) => s.service === 'web')?.release;
    assert.deepEqual(
      ps.map((s) => [s.service, s.image]).sort(),
      [
        ['api', 'berth-test/web:1'],
        ['jobs', 'berth-test/web:1'],
        ['web', `berth/boxcrash-production:${release}`],
      ],
      `${label}: berth ps shows each image`,
    );
    const store = await Store.openSqlite(path.join(home.home, 'berth.db'));
    try {
      const leases = await store.leases.all();
      assert.deepEqual(
        leases.map((l) => l.port).sort(),
        ps.flatMap((s) => (s.port === null ? [] : [s.port])).sort(),
        `${label}: leases`,
      );
      const releases = (await store.releases.all()).map((x) => x.number).sort((a, b) => a - b);
      assert.deepEqual(
        readdirSync(path.join(home.home, 'releases', 'boxcrash', 'production'))
          .map(Number)
          .sort((a, b) => a - b),
        releases,
        `${label}: release dirs`,
      );
      assert.deepEqual(await imageReleases(), releases, `${label}: built images are those of kept releases`);
      assert.equal((await store.deployments.running()).length, 0, label);
    } finally {
      await store.close();
    }
  }
});
