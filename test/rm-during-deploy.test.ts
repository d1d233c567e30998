import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Store } from '../src/store/store.js';
import { listPids, procEnvValue } from '../src/system/proc.js';
import { findUser } from '../src/system/users.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * `berth rm` while a deployment of the app runs: it refuses naming the deployment, or with
 * --wait queues behind it; either way nothing of the app is left afterwards (no process,
 * no port lease, no system user). With app users on when run as root (as on CI).
 */
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const ROOT = process.getuid?.() === 0;
const home = new TestHome('26600-26699');
if (ROOT) Object.assign(home.env, { BERTH_APP_USERS: '1' });
before(async () => {
  chmodSync(home.root, 0o711); // the test's temp dir, like /var/lib: traversable by app users
  assertOk(await home.cli('daemon', 'start'));
});
after(async () => {
  await home.cleanup();
  if (ROOT && findUser('berth-rmrace'))
    await import('../src/system/users.js').then((m) => m.deleteSystemUser('berth-rmrace'));
});

const marker =
  createHash('sha256')
    .update(home.env.BERTH_HOME as string)
    .digest('hex')
    .slice(0, 12) + ':';
const instancePids = () => listPids().filter((p) => procEnvValue(p, 'BERTH_INSTANCE')?.startsWith(marker));

test('berth rm during a deploy refuses naming it; with --wait it removes everything after it', async () => {
  const manifest = (build: string) =>
    `app: rmrace\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    build: "${build}"\n    instances: 2\n    routes: [rmrace.test]\n`;
  const dir = home.app('rmrace', manifest('true'));
  assertOk(await home.cli('deploy', dir));
  // The deployment's build waits for the test to open a gate, so the removal surely meets it running.
  const gate = path.join(home.root, 'rmrace-gate');
  home.app('rmrace', manifest(`while [ ! -e ${gate} ]; do sleep 0.1; done`));
  const deploying = home.cli('deploy', dir, '--json');
  await waitFor('the deployment to be building', async () => {
    const r = await home.cli('releases', 'rmrace', '--json');
    return (
      r.code === 0 &&
      (JSON.parse(r.stdout) as { deployments: Array<{ status: string }> }).deployments[0]?.status === 'running'
    );
  });
  const refused = await home.cli('rm', 'rmrace', '--purge');
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(
    refused.stderr,
    /a deployment of rmrace \(production\) is already running: #\d+ \(deploy\), started .*, now at "build web"\n {2}hint: wait for it, or pass --wait/,
  );
  const removing = home.cli('rm', 'rmrace', '--purge', '--wait');
  writeFileSync(gate, '');
  assertOk(await removing);
  const d = await deploying;
  assert.equal(
    (JSON.parse(d.stdout) as { status: string }).status,
    'succeeded',
    'the deployment ran to its end before the removal',
  );
  assert.deepEqual(instancePids(), [], 'no process of the app is left');
  const store = await Store.openSqlite(path.join(home.home, 'berth.db'));
  try {
    assert.deepEqual(await store.leases.all(), [], 'no port lease is left');
    assert.equal(await store.apps.find('rmrace'), undefined);
  } finally {
    await store.close();
  }
  assert.equal(existsSync(path.join(home.home, 'releases', 'rmrace')), false);
  if (ROOT) assert.equal(findUser('berth-rmrace'), undefined, 'its system user is gone');
});
