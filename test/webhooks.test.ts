import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { git } from './helpers/git.js';
import { hit } from './helpers/http.js';
import { assertOk, NODE, TestHome, waitFor } from './helpers/home.js';
import type { EnvironmentStatus } from '../src/core/results.js';

/**
 * Push webhooks in GitHub's format, over the TCP API: a developer pushes feature/hook to the
 * app's origin (a bare repository here), GitHub would POST the push; Berth verifies the
 * HMAC, fetches the branch and deploys it into its preview; deleting the branch removes it.
 */
const home = new TestHome('25400-25499');
const P = home.httpPort;
const API = 18354;
Object.assign(home.env, { BERTH_API_LISTEN: `127.0.0.1:${API}` });
const origin = path.join(home.root, 'origin.git');
const src = path.join(home.root, 'src');
const dev = path.join(home.root, 'dev');
let secret = '';

let deliveries = 0;
async function push(
  app: string,
  payload: unknown,
  opts: { event?: string; key?: string; signature?: string; delivery?: string; raw?: string } = {},
): Promise<{ status: number; body: any }> {
  const body = opts.raw ?? JSON.stringify(payload);
  const signature =
    opts.signature ??
    `sha256=${createHmac('sha256', opts.key ?? secret)
      .update(body)
      .digest('hex')}`;
  const res = await fetch(`http://127.0.0.1:${API}/v1/hooks/github/${app}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': opts.event ?? 'push',
      'x-hub-signature-256': signature,
      'x-github-delivery': opts.delivery ?? `d-${++deliveries}`,
    },
    body,
  });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  mkdirSync(src, { recursive: true });
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', origin]);
  writeFileSync(
    path.join(src, 'berth.yaml'),
    `app: hooked
services:
  web:
    run: ["${NODE}", "-e", "const v = require('fs').readFileSync('VERSION', 'utf8').trim(); require('http').createServer((q, s) => s.end(v)).listen(process.env.PORT, '127.0.0.1')"]
    routes: [hooked.test]
environments:
  production: { branch: main }
  preview: { branch: "feature/*", hostname: "{branch}.hooked.test" }
`,
  );
  writeFileSync(path.join(src, 'VERSION'), 'main 1\n');
  git(src, 'init', '-q', '-b', 'main');
  git(src, 'add', '-A');
  git(src, 'commit', '-q', '-m', 'one');
  git(src, 'remote', 'add', 'origin', origin);
  git(src, 'push', '-q', 'origin', 'main');
  execFileSync('git', ['clone', '-q', origin, dev]);
  assertOk(await home.cli('daemon', 'start'));
  assertOk(await home.cli('deploy', src));
  secret = (await home.json<{ secret: string }>('webhook', 'hooked')).secret;
});
after(() => home.cleanup());

test('a signed push of a feature branch deploys what was pushed into its preview', async () => {
  git(dev, 'checkout', '-q', '-b', 'feature/hook');
  writeFileSync(path.join(dev, 'VERSION'), 'hook 1\n');
  git(dev, 'commit', '-q', '-am', 'hook');
  git(dev, 'push', '-q', 'origin', 'feature/hook');
  assert.deepEqual((await push('hooked', { zen: 'hi' }, { event: 'ping' })).body, { app: 'hooked', action: 'pong' });
  const r = await push('hooked', { ref: 'refs/heads/feature/hook', after: git(dev, 'rev-parse', 'HEAD').trim() });
  assert.equal(r.status, 202);
  assert.deepEqual(r.body, { app: 'hooked', branch: 'feature/hook', env: 'feature-hook', action: 'deploy' });
  await waitFor(
    'the preview serving the pushed commit',
    async () =>
      (await hit(P, 'feature-hook.hooked.test', '/').then(
        (x) => x.text(),
        () => '',
      )) === 'hook 1',
    20_000,
    200,
  );
  assert.equal((await hit(P, 'hooked.test', '/')).text(), 'main 1', 'production untouched');
  // Another push to the same branch: the next commit goes live.
  writeFileSync(path.join(dev, 'VERSION'), 'hook 2\n');
  git(dev, 'commit', '-q', '-am', 'hook 2');
  git(dev, 'push', '-q', 'origin', 'feature/hook');
  assert.equal((await push('hooked', { ref: 'refs/heads/feature/hook' })).status, 202);
  await waitFor(
    'the second commit',
    async () =>
      (await hit(P, 'feature-hook.hooked.test', '/').then(
        (x) => x.text(),
        () => '',
      )) === 'hook 2',
    20_000,
    200,
  );
});

test('unsigned, wrongly signed, or for an unknown app: 401, and nothing happens', async () => {
  const payload = { ref: 'refs/heads/feature/evil' };
  assert.equal((await push('hooked', payload, { signature: '' })).status, 401);
  assert.equal((await push('hooked', payload, { key: 'not the secret' })).status, 401);
  assert.equal((await push('hooked', payload, { signature: 'sha256=zz' })).status, 401);
  assert.equal((await push('nosuchapp', payload)).status, 401, 'an unknown app looks the same');
  const envs = await home.json<EnvironmentStatus[]>('env', 'ls', 'hooked');
  assert.ok(!envs.some((e) => e.name === 'feature-evil'));
  // Replacing the secret retires the old one.
  const old = secret;
  secret = (await home.json<{ secret: string }>('webhook', 'hooked')).secret;
  assert.equal((await push('hooked', { ref: 'refs/heads/feature/hook' }, { event: 'ping', key: old })).status, 401);
  assert.equal((await push('hooked', { zen: 'after rotation' }, { event: 'ping' })).status, 200);
  // A captured, correctly signed delivery replayed: refused, whatever X-GitHub-Delivery says (the signature does not cover it).
  const captured = { zen: 'captured' };
  assert.equal((await push('hooked', captured, { event: 'ping', delivery: 'id-1' })).status, 200);
  assert.equal((await push('hooked', captured, { event: 'ping', delivery: 'id-1' })).status, 409);
  assert.equal(
    (await push('hooked', captured, { event: 'ping', delivery: 'id-2' })).status,
    409,
    'a new delivery id does not make it new',
  );
  // ... also after berthd restarted: what was taken is in the store.
  assertOk(await home.cli('daemon', 'stop'));
  assertOk(await home.cli('daemon', 'start'));
  const replay = await push('hooked', captured, { event: 'ping', delivery: 'id-3' });
  assert.deepEqual([replay.status, replay.body.why], [409, 'this delivery (the same signed body) was handled already']);
  // A delivery refused before it was accepted is given back: GitHub's redelivery of it gets the same answer, not 409.
  assert.equal((await push('hooked', undefined, { event: 'ping', raw: 'not json' })).status, 400);
  assert.equal((await push('hooked', undefined, { event: 'ping', raw: 'not json' })).status, 400);
});

test('branches no environment takes and tags are ignored; a deleted branch removes its preview', async () => {
  assert.match(
    (await push('hooked', { ref: 'refs/heads/hotfix/x' })).body.why,
    /no environment accepts branch "hotfix\/x"/,
  );
  assert.match((await push('hooked', { ref: 'refs/tags/v1' })).body.why, /is not a branch/);
  git(dev, 'push', '-q', 'origin', '--delete', 'feature/hook');
  const r = await push('hooked', { ref: 'refs/heads/feature/hook', deleted: true });
  assert.deepEqual([r.status, r.body.action], [202, 'remove']);
  await waitFor(
    'the preview removed',
    async () => !(await home.json<EnvironmentStatus[]>('env', 'ls', 'hooked')).some((e) => e.name === 'feature-hook'),
    15_000,
    200,
  );
  assert.equal((await hit(P, 'feature-hook.hooked.test', '/')).status, 404);
});

test('an origin on an internal address is refused before anything is fetched', async () => {
  git(src, 'remote', 'set-url', 'origin', 'http://127.0.0.1:9/hooked.git');
  const r = await push('hooked', { ref: 'refs/heads/feature/other' });
  assert.equal(r.status, 403);
  assert.match(
    r.body.error.message,
    /127\.0\.0\.1 is a loopback address \(127\.0\.0\.1\); Berth does not call internal addresses/,
  );
  assert.match(r.body.error.hint, /outbound_allow/);
  git(src, 'remote', 'set-url', 'origin', origin);
});
