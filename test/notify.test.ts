import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { assertOk, NODE, TestHome, waitFor } from './helpers/home.js';

/**
 * `notify:` URLs hear about every deployment's end. A receiver on 127.0.0.1 is an internal
 * address: refused (an event says so) until config.yaml's outbound_allow lists it.
 */
const home = new TestHome('25800-25899');
const RECEIVER = 18358;
const received: unknown[] = [];
let server: Server;
const manifest = (v: number, crash = false) => `app: told
notify: ["http://127.0.0.1:${RECEIVER}/hook"]
services:
  web:
    run: ["${NODE}", "-e", "${crash ? 'process.exit(4)' : `require('http').createServer((q, s) => s.end('${v}')).listen(process.env.PORT, '127.0.0.1')`}"]
    health: { start_timeout: 3s }
`;

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url, type: req.headers['content-type'], body: JSON.parse(body) });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(RECEIVER, '127.0.0.1', r));
  assertOk(await home.cli('daemon', 'start'));
});
after(async () => {
  server.close();
  await home.cleanup();
});

test('a notification to an internal address is refused and recorded, not sent', async () => {
  const dir = home.app('told', manifest(1));
  assertOk(await home.cli('deploy', dir));
  const events = await waitFor(
    'the refusal event',
    async () =>
      (await home.json<Array<{ kind: string; message: string }>>('events', 'told')).find(
        (e) => e.kind === 'notify.failed',
      ),
    10_000,
    100,
  );
  assert.match(
    events.message,
    /127\.0\.0\.1 is a loopback address \(127\.0\.0\.1\); Berth does not call internal addresses/,
  );
  assert.deepEqual(received, []);
});

test('allowed in outbound_allow, every deployment end is POSTed: success and failure', async () => {
  writeFileSync(path.join(home.home, 'config.yaml'), 'outbound_allow: ["127.0.0.1"]\n');
  assertOk(await home.cli('daemon', 'stop'));
  assertOk(await home.cli('daemon', 'start'));
  const dir = path.join(home.root, 'apps', 'told');
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(2));
  assertOk(await home.cli('deploy', dir));
  await waitFor('the success notification', () => received.length >= 1, 10_000, 50);
  assert.deepEqual(received[0], {
    path: '/hook',
    type: 'application/json',
    body: { app: 'told', env: 'production', kind: 'deploy', status: 'succeeded', release: 2 },
  });
  writeFileSync(path.join(dir, 'berth.yaml'), manifest(3, true));
  assert.equal((await home.cli('deploy', dir)).code, 1);
  await waitFor('the failure notification', () => received.length >= 2, 10_000, 50);
  const failed = (received[1] as { body: { status: string; error: string; release: number | null } }).body;
  assert.deepEqual([failed.status, failed.release], ['failed', null]);
  assert.match(failed.error, /did not become ready/);
});
