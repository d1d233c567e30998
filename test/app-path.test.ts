import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { getJson } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const STANDARD = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const home = new TestHome('27200-27299');
after(() => home.cleanup());

/** The environment of whoever happens to start berthd: a login shell with pyenv's shims first on its PATH. */
const shims = path.join(home.root, 'pyenv', 'shims');
const shell = { ...home.env, PATH: `${shims}:${process.env.PATH ?? ''}`, HOME: path.join(home.root, 'somebody') };

const manifest = `app: pathy
services:
  web:
    run: ["${NODE}", "${SERVER}"]
    build: ["echo \\"build PATH=$PATH\\""]
`;

async function appEnv(): Promise<NodeJS.ProcessEnv> {
  const [web] = await home.json<InstanceStatus[]>('ps', 'pathy');
  return waitFor('the app to answer', () => getJson<NodeJS.ProcessEnv>(web?.port as number, '/env'));
}

test('builds and instances get the standard PATH, not the PATH of the shell that auto-started berthd', async () => {
  mkdirSync(shims, { recursive: true });
  // `berth up` from that shell auto-starts berthd with its environment.
  assertOk(await home.run(['up', home.app('pathy', manifest)], { env: shell }), 'up');
  const env = await appEnv();
  assert.equal(env.PATH, STANDARD);
  assert.notEqual(env.HOME, shell.HOME, "HOME is the daemon user's, not the starter's");
  const build = readFileSync(path.join(home.home, 'logs', 'pathy', 'production', 'build-1.log'), 'utf8');
  assert.equal(build.trim(), `build PATH=${STANDARD}`);
});

test('app_path in config.yaml sets it, whoever restarts berthd', async () => {
  writeFileSync(path.join(home.home, 'config.yaml'), `app_path: "/opt/tools/bin:${STANDARD}"\n`);
  assertOk(await home.run(['daemon', 'stop'], { env: shell }));
  assertOk(await home.run(['restart', 'pathy'], { env: home.env }), 'restart');
  assert.equal((await appEnv()).PATH, `/opt/tools/bin:${STANDARD}`);
  const bad = await home.run(['config', 'set', 'app_path', 'relative/bin']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /app_path/);
});
