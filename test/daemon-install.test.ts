import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { UNIT_MARKER } from '../src/cli/daemon-unit.js';
import { assertOk, REPO, TestHome, waitFor } from './helpers/home.js';

/** `berth daemon install|uninstall`: berthd's systemd unit, checked by systemd-analyze and by running its ExecStart. */
const home = new TestHome('30100-30199');
const units = path.join(home.root, 'units');
const unitFile = path.join(units, 'berthd.service');
after(() => home.cleanup());

/** `systemd-analyze verify`: every line it prints is a warning or an error about the unit. */
function verify(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) =>
    execFile('systemd-analyze', ['verify', file], { timeout: 60_000 }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT')
        return reject(new Error('systemd-analyze is missing: scripts/test.sh installs it (apt-get install systemd)'));
      resolve({ code: typeof err?.code === 'number' ? err.code : err ? 1 : 0, output: (stdout + stderr).trim() });
    }),
  );
}

/** A key's values in the unit, in order. */
function values(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

test('--dry-run prints the unit and writes nothing', async () => {
  const r = await home.cli('daemon', 'install', '--dry-run', '--unit-dir', units);
  assertOk(r);
  assert.match(r.stdout, /^would write \(--dry-run: nothing written\) .*berthd\.service:/);
  assert.match(r.stdout, /\nExecStart=/);
  assert.equal(existsSync(unitFile), false);
});

test('install writes a unit systemd-analyze verifies without a warning, and says what to run without systemd', async () => {
  const r = await home.cli('daemon', 'install', '--unit-dir', units);
  assertOk(r);
  const unit = readFileSync(unitFile, 'utf8');
  assert.ok(r.stdout.startsWith(`wrote ${unitFile}:\n\n${unit}`), r.stdout);
  const v = await verify(unitFile);
  assert.deepEqual(v, { code: 0, output: '' });
  assert.deepEqual(values(unit, 'Restart'), ['on-failure']);
  assert.deepEqual(values(unit, 'After'), ['network-online.target']);
  assert.deepEqual(values(unit, 'Wants'), ['network-online.target']);
  assert.deepEqual(values(unit, 'KillMode'), ['process']);
  assert.deepEqual(values(unit, 'WantedBy'), ['multi-user.target']);
  const caps = (values(unit, 'CapabilityBoundingSet')[0] ?? '').split(' ');
  assert.ok(caps.includes('CAP_NET_BIND_SERVICE'), caps.join(' '));
  for (const broad of ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_SYS_MODULE', 'CAP_NET_RAW'])
    assert.ok(!caps.includes(broad), `${broad} is not needed`);
  for (const cap of caps) assert.match(unit, new RegExp(`#   .*${cap}.*: `), `${cap} is explained`);
  assert.ok(values(unit, 'Environment').includes(`"BERTH_HOME=${home.home}"`));
  if (!existsSync('/run/systemd/system')) assert.match(r.stdout, /systemd is not running on this machine/);
  assert.match(r.stdout, /systemctl enable berthd\.service/);
  // Installing again replaces Berth's own unit.
  assertOk(await home.cli('daemon', 'install', '--unit-dir', units));
});

test("the unit's ExecStart and Environment start berthd for this BERTH_HOME", async () => {
  const unit = readFileSync(unitFile, 'utf8');
  const argv = (values(unit, 'ExecStart')[0] ?? '').split(' '); // plain words here: no quoting needed
  assert.equal(argv[0], process.execPath);
  assert.equal(argv.at(-1), path.join(REPO, 'dist', 'bundle', 'berthd.js'));
  const env = Object.fromEntries(
    values(unit, 'Environment').map((e) => {
      const kv = e.slice(1, -1);
      return [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)];
    }),
  );
  assert.equal(env.BERTH_PORT_RANGE, '30100-30199', 'settings variables in use are carried over');
  const child = spawn(argv[0], argv.slice(1), { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
  try {
    const info = await waitFor('berthd from the unit', async () => {
      const r = await home.json<{ pid: number; home: string }>('daemon', 'status').catch(() => undefined);
      return r?.pid === child.pid ? r : undefined;
    });
    assert.equal(info.home, home.home);
  } finally {
    assertOk(await home.cli('daemon', 'stop'));
  }
});

test('a BERTH_HOME with a line break is refused: it would add lines to the unit', async () => {
  const r = await home.run(['daemon', 'install', '--dry-run', '--unit-dir', units], {
    env: { ...home.env, BERTH_HOME: `${home.home}\nExecStartPre=/bin/sh` },
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /control character: a systemd unit cannot hold it/);
});

test('uninstall removes the unit and the link that enabled it, and says so; a foreign unit is left alone', async () => {
  const wants = path.join(units, 'multi-user.target.wants');
  mkdirSync(wants);
  symlinkSync(unitFile, path.join(wants, 'berthd.service')); // what `systemctl enable` makes
  const r = await home.cli('daemon', 'uninstall', '--unit-dir', units);
  assertOk(r);
  assert.match(r.stdout, new RegExp(`removed ${path.join(wants, 'berthd.service')}\nremoved ${unitFile}`));
  assert.equal(existsSync(unitFile), false);
  assert.match((await home.cli('daemon', 'uninstall', '--unit-dir', units)).stdout, /nothing to remove/);

  const foreign = path.join(home.root, 'foreign');
  mkdirSync(foreign);
  writeFileSync(path.join(foreign, 'berthd.service'), '[Service]\nExecStart=/bin/true\n');
  for (const args of [['install'], ['uninstall']]) {
    const f = await home.run(['daemon', ...args], { env: { ...home.env, BERTH_SYSTEMD_DIR: foreign } });
    assert.equal(f.code, 1);
    assert.match(f.stderr, /exists and was not written by berth daemon install/);
  }
  assert.equal(readFileSync(path.join(foreign, 'berthd.service'), 'utf8'), '[Service]\nExecStart=/bin/true\n');

  // A link where the unit goes is never written through nor removed, even to a file that reads like Berth's unit.
  const linked = path.join(home.root, 'linked');
  const victim = path.join(home.root, 'victim.service');
  mkdirSync(linked);
  writeFileSync(victim, `${UNIT_MARKER}\n[Service]\nExecStart=/bin/true\n`);
  symlinkSync(victim, path.join(linked, 'berthd.service'));
  for (const args of [['install'], ['uninstall']]) {
    const f = await home.run(['daemon', ...args], { env: { ...home.env, BERTH_SYSTEMD_DIR: linked } });
    assert.equal(f.code, 1);
    assert.match(f.stderr, /was not written by berth daemon install \(it is a link\)/);
  }
  assert.equal(readFileSync(victim, 'utf8'), `${UNIT_MARKER}\n[Service]\nExecStart=/bin/true\n`);
  assert.ok(lstatSync(path.join(linked, 'berthd.service')).isSymbolicLink(), 'the link is left as it was');
});
