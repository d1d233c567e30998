import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseManifest } from '../src/config/manifest.js';
import { listPids, procEnvValue } from '../src/system/proc.js';
import { detectCgroups } from '../src/system/cgroups-detect.js';
import { inCgroups } from '../src/runtime/cgroup-exec.js';
import type { InstanceStatus } from '../src/core/results.js';
import { getJson, isAlive } from './helpers/http.js';
import { assertOk, REPO, TestHome, waitFor } from './helpers/home.js';

// The cgroup v1 paths of Berth (this machine mounts memory, cpu and pids as v1 hierarchies at
// /sys/fs/cgroup/<controller>); the v2 paths are not tested here (see README).
const APP = path.join(REPO, 'test', 'fixtures', 'limits-app.py');
const V1 = existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
const home = new TestHome('30600-30799');
before(() => home.cli('daemon', 'start'));
after(() => home.cleanup());

const ps = (app: string) => home.json<InstanceStatus[]>('ps', app);
const MiB = 2 ** 20;

/** The directory of the v1 cgroup `pid` is in, for a controller (read from /proc, not from Berth). */
function cgroupOf(pid: number, controller: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  assert.ok(line, `pid ${pid} has no ${controller} cgroup`);
  return path.join('/sys/fs/cgroup', controller, line.split(':').slice(2).join(':'));
}
const control = (dir: string, file: string) => readFileSync(path.join(dir, file), 'utf8').trim();

function manifest(app: string, resources: string, env = '', restart = 'always'): string {
  return `app: ${app}\nservices:\n  web:\n    run: ["python3", "${APP}"]\n    restart: ${restart}\n    stop_timeout: 2s\n${resources ? `    resources: ${resources}\n` : ''}${env ? `    env: ${env}\n` : ''}`;
}

test('resources are validated: units, ranges and keys, with the key path and an example', () => {
  const m = parseManifest(manifest('ok', '{ memory: 512M, cpu: 1.5, pids: 256 }'), 'berth.yaml');
  assert.deepEqual(m.services[0]?.resources, { memoryBytes: 512 * MiB, cpu: 1.5, pids: 256 });
  assert.equal(
    parseManifest(manifest('ok', '{ memory: 1.5G }'), 'berth.yaml').services[0]?.resources?.memoryBytes,
    1.5 * 2 ** 30,
  );
  assert.equal(parseManifest(manifest('ok', ''), 'berth.yaml').services[0]?.resources, undefined);
  const bad: Array<[string, RegExp]> = [
    ['{ memory: 512X }', /services\.web\.resources\.memory: expected a size from 4M to 16T.*got "512X"/s],
    ['{ memory: 1M }', /resources\.memory: expected a size from 4M/],
    ['{ memory: -5 }', /resources\.memory/],
    ['{ cpu: 0 }', /services\.web\.resources\.cpu: expected a number of CPUs from 0\.01 to 1024/],
    ['{ cpu: "1.5" }', /resources\.cpu: expected a number of CPUs/],
    ['{ cpu: 2000 }', /resources\.cpu/],
    ['{ pids: 0 }', /services\.web\.resources\.pids: expected a whole number .* from 1 to 4194304/],
    ['{ pids: 2.5 }', /resources\.pids/],
    ['{ disk: 1G }', /resources\.disk/],
  ];
  for (const [resources, expected] of bad)
    assert.throws(
      () => parseManifest(manifest('bad', resources), 'berth.yaml'),
      (err: Error) => expected.test(err.message) || assert.fail(`${resources}: ${err.message}`),
    );
});

test(
  'every process of an instance is in its cgroups with the limits; none without resources; removed with the app',
  {
    skip: !V1 && 'no cgroup v1 memory hierarchy here',
  },
  async () => {
    assertOk(await home.cli('up', home.app('capped', manifest('capped', '{ memory: 128M, cpu: 0.5, pids: 64 }'))));
    assertOk(await home.cli('up', home.app('free', manifest('free', ''))));
    const [capped] = await ps('capped');
    const leader = capped?.pid as number;
    const { child } = await waitFor('capped', () => getJson<{ child: number }>(capped?.port as number, '/child'));
    const memory = cgroupOf(leader, 'memory');
    const cpu = cgroupOf(leader, 'cpu');
    const pids = cgroupOf(leader, 'pids');
    for (const dir of [memory, cpu, pids]) assert.match(path.basename(dir), /^capped\.production\.web\.0\.i\d+$/);
    assert.equal(Number(control(memory, 'memory.limit_in_bytes')), 128 * MiB);
    if (existsSync(path.join(memory, 'memory.memsw.limit_in_bytes')))
      assert.equal(Number(control(memory, 'memory.memsw.limit_in_bytes')), 128 * MiB, 'no swap on top');
    assert.equal(control(cpu, 'cpu.cfs_period_us'), '100000');
    assert.equal(control(cpu, 'cpu.cfs_quota_us'), '50000');
    assert.equal(control(pids, 'pids.max'), '64');
    for (const c of ['memory', 'cpu', 'pids'])
      assert.equal(cgroupOf(child, c), cgroupOf(leader, c), `the child is in the instance's ${c} cgroup`);

    const [free] = await ps('free');
    const daemon = home.daemonPid() as number;
    for (const c of ['memory', 'cpu', 'pids'])
      assert.equal(cgroupOf(free?.pid as number, c), cgroupOf(daemon, c), 'no cgroup of its own without resources');

    assertOk(await home.cli('rm', 'capped'));
    await waitFor('the child to be gone', () => !isAlive(child));
    for (const dir of [memory, cpu, pids]) assert.equal(existsSync(dir), false, `${dir} is removed with the app`);
  },
);

test(
  'an instance killed for memory is recorded as oom with its limit: ps, events, doctor',
  {
    skip: !V1 && 'no cgroup v1 memory hierarchy here',
  },
  async () => {
    assertOk(await home.cli('up', home.app('hog', manifest('hog', '{ memory: 48M }', '{ HOG_MB: 200 }', 'never'))));
    const [web] = await ps('hog');
    const memory = cgroupOf(web?.pid as number, 'memory');
    await getJson(web?.port as number, '/hog').catch(() => undefined); // the kernel kills it mid-request
    const down = await waitFor('the instance to be down', async () =>
      (await ps('hog')).find((s) => s.state === 'exited'),
    );
    assert.deepEqual(down.lastExit?.oom, { limitBytes: 48 * MiB });
    assert.equal(down.lastExit.signal, 'SIGKILL');
    const text = await home.cli('ps', 'hog');
    assert.match(text.stdout, /exited .*oom \(memory limit 48M\)/);
    const events = await home.cli('events', 'hog');
    assert.match(events.stdout, /web\[0\]@r1 healthy -> exited: oom: killed for memory over its 48M limit/);
    const doctor = await home.cli('doctor', 'hog');
    assert.match(
      doctor.stdout,
      /hog\/web\[0\] \(release 1\) exited and stays down: oom: killed for memory over its 48M limit/,
    );
    assert.equal(existsSync(memory), false, 'the cgroup is removed once the instance is down');
  },
);

test(
  'a fork bomb stops at its pids limit; berthd and the other apps keep answering; nothing is left',
  {
    skip: !V1 && 'no cgroup v1 pids hierarchy here',
  },
  async () => {
    assertOk(await home.cli('up', home.app('calm', manifest('calm', ''))));
    // 1,000 forks at most (bounded): with pids: 32, all but 31 fail.
    assertOk(await home.cli('up', home.app('bomb', manifest('bomb', '{ pids: 32 }', '{ FORK_BOMB: 1000 }'))));
    const [bomb] = await ps('bomb');
    const counts = await getJson<{ forked: number; failed: number }>(bomb?.port as number);
    assert.ok(counts.forked <= 31, `forked ${counts.forked} children under pids: 32`);
    assert.equal(counts.forked + counts.failed, 1000);
    const pids = cgroupOf(bomb?.pid as number, 'pids');
    assert.ok(Number(control(pids, 'pids.current')) <= 32);
    assert.match(control(pids, 'pids.events'), /^max [1-9]/, 'the kernel refused forks at the limit');
    const [calm] = await ps('calm');
    assert.equal(calm?.state, 'healthy', 'berth ps answers');
    assert.ok((await getJson<{ pid: number }>(calm.port as number)).pid > 0, 'the other app answers');

    const marker = procEnvValue(bomb?.pid as number, 'BERTH_INSTANCE');
    assert.ok(marker);
    assertOk(await home.cli('rm', 'bomb'));
    const left = listPids().filter((p) => procEnvValue(p, 'BERTH_INSTANCE') === marker);
    assert.deepEqual(left, [], 'no process of the bomb is left');
    assert.equal(existsSync(pids), false, 'its cgroup is removed');
  },
);

test("the cgroup version and paths come from the mounts: v1 under berthd's own cgroup, v2 at the top", () => {
  const v1 = detectCgroups(
    'berth-x',
    [
      '30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct',
      '31 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '32 25 0:28 /docker/abc /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
      '33 25 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n'),
    '5:pids:/docker/abc/svc\n4:memory:/process_api/1\n2:cpu,cpuacct:/\n0::/\n',
  );
  assert.equal(v1?.version, 1);
  assert.equal(v1.dir('a', 'memory'), '/sys/fs/cgroup/memory/process_api/1/berth-x/a');
  assert.equal(v1.dir('a', 'cpu'), '/sys/fs/cgroup/cpu/berth-x/a');
  assert.equal(v1.dir('a', 'pids'), '/sys/fs/cgroup/pids/svc/berth-x/a', 'a hierarchy mounted from a sub-path');
  const v2 = detectCgroups(
    'berth-x',
    '25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n',
    '0::/system.slice/berthd.service\n',
  );
  assert.equal(v2?.version, 2);
  assert.equal(detectCgroups('berth-x', '24 1 0:5 / /proc rw - proc proc rw\n', ''), undefined);
});

test(
  'cgroup-exec joins the cgroup, then drops to the app user and group, before the app runs',
  {
    skip: !V1 && 'no cgroup v1 pids hierarchy here',
  },
  () => {
    const own = readFileSync('/proc/self/cgroup', 'utf8').match(/^\d+:pids:(.*)$/m)?.[1] as string;
    const dir = path.join('/sys/fs/cgroup/pids', own, `berth-test-${process.pid}`);
    mkdirSync(dir);
    try {
      writeFileSync(path.join(dir, 'pids.max'), '8');
      const argv = inCgroups(
        [path.join(dir, 'cgroup.procs')],
        ['sh', '-c', 'id -u; id -g; id -G; cat /proc/self/cgroup'],
        65534,
        65534,
      );
      // Started with a supplementary group (as berthd may have), which the app must not keep.
      const out = execFileSync('setpriv', ['--groups=5', '--', ...argv], { encoding: 'utf8' }).split('\n');
      assert.deepEqual(out.slice(0, 3), ['65534', '65534', '65534'], 'no supplementary group of root is kept');
      assert.ok(
        out.includes(
          `${readFileSync('/proc/self/cgroup', 'utf8').match(/^(\d+):pids:/m)?.[1]}:pids:${path.join(own, path.basename(dir))}`,
        ),
      );
      const missing = spawnSync(
        argv[0] as string,
        [argv[1] as string, argv[2] as string, path.join(dir, 'nope'), '--', 'true'],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(missing.status, 127, 'never runs the app outside its cgroup');
      assert.match(missing.stderr, /berth: cannot open .*nope.*the instance was not started/);
    } finally {
      rmdirSync(dir);
    }
  },
);

test(
  'at start, berthd removes the cgroups of instances it no longer has, and keeps the running ones',
  {
    skip: !V1 && 'no cgroup v1 pids hierarchy here',
  },
  async () => {
    assertOk(await home.cli('up', home.app('keep', manifest('keep', '{ pids: 64 }'))));
    const [keep] = await ps('keep');
    const mine = cgroupOf(keep?.pid as number, 'pids');
    // Left by a berthd that died between removing an instance from the store and removing its cgroup.
    const stray = path.join(path.dirname(mine), 'gone.production.web.0.i999999');
    mkdirSync(stray);
    assertOk(await home.cli('daemon', 'stop'));
    assertOk(await home.cli('daemon', 'start'));
    await waitFor('the stray cgroup to be removed', () => !existsSync(stray));
    assert.equal(existsSync(mine), true, "a running instance's cgroup stays");
    assert.equal((await ps('keep'))[0]?.pid, keep?.pid, 'the instance was adopted, not restarted');
    assertOk(await home.cli('rm', 'keep'));
    assert.equal(existsSync(mine), false);
    assert.equal(existsSync(path.dirname(mine)), false, "berthd's subtree goes with its last cgroup");
  },
);
