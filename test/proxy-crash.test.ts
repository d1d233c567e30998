import assert from 'node:assert/strict';
import { connect } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hit, isAlive } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';
import { wrk } from './helpers/proxy-process.js';

/** The builtin proxy killed with SIGKILL under load: its keeper holds the listening socket, so no connection is refused. */
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('27600-27699');
const P = home.httpPort;
const CONNECTIONS = 50;
const KILLS = 5;

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  const app = `app: steady\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    instances: 2\n    routes: [{ host: steady.test, tls: off }]\n`;
  assertOk(await home.cli('deploy', home.app('steady', app)));
});
after(() => home.cleanup());

/**
 * New connections, one request each, 4 at a time until `until` settles: how many connected,
 * how many were refused or reset before connecting, and how many failed after (in flight). The server closes each (`Connection: close`).
 */
async function connectLoop(until: Promise<unknown>): Promise<{ ok: number; refused: string[]; inFlight: number }> {
  const out = { ok: 0, refused: [] as string[], inFlight: 0 };
  let done = false;
  const stop = () => (done = true);
  until.then(stop, stop);
  const one = () =>
    new Promise<void>((resolve) => {
      let connected = false;
      const s = connect({ port: P, host: '127.0.0.1' }, () => {
        connected = true;
        s.write('GET / HTTP/1.1\r\nHost: steady.test\r\nConnection: close\r\n\r\n');
      });
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.on('error', (err: NodeJS.ErrnoException) => {
        if (!connected) out.refused.push(err.code ?? err.message);
        else out.inFlight++;
        resolve();
      });
      s.on('close', () => {
        if (connected && got.startsWith('HTTP/1.1 200')) out.ok++;
        else if (connected && !s.errored) out.inFlight++;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (!done) await one();
    }),
  );
  return out;
}

const status = () => home.json<{ running: boolean; pid?: number }>('proxy', 'status');

test('the builtin proxy killed with SIGKILL 5 times under wrk: no connection refused, only requests in flight fail', async (t) => {
  const killed: number[] = [];
  const kills = (async () => {
    await waitFor('the load reaching the app', async () => (await hit(P, 'steady.test', '/')).status === 200, 10_000);
    for (let i = 0; i < KILLS; i++) {
      const before = (await status()).pid as number;
      process.kill(before, 'SIGKILL');
      killed.push(before);
      await waitFor('the killed proxy gone', () => !isAlive(before), 5000);
      await waitFor(
        'a new proxy serving',
        async () => {
          const s = await status();
          return s.running && s.pid !== undefined && !killed.includes(s.pid);
        },
        10_000,
      );
      await new Promise((r) => setTimeout(r, 300)); // load on the new proxy before the next kill
    }
  })();
  const [r, fresh] = await Promise.all([
    wrk(`http://127.0.0.1:${P}/`, { connections: CONNECTIONS, seconds: 600, host: 'steady.test', until: kills }),
    connectLoop(kills),
  ]);
  await kills;
  assert.deepEqual(fresh.refused, [], `new connections refused while the proxy restarted (${fresh.ok} answered)`);
  assert.ok(fresh.ok > 100, JSON.stringify(fresh));
  assert.equal(killed.length, KILLS);
  assert.ok(r.requests > 500, r.output);
  assert.equal(r.connect, 0, `connections refused while the proxy restarted:\n${r.output}`);
  assert.equal(r.timeout, 0, r.output);
  assert.equal(r.non2xx, 0, r.output);
  // Each kill may cost the requests then in flight: at most one per connection (wrk counts a refused connection as a write error).
  assert.ok(r.errors <= CONNECTIONS * KILLS, r.output);
  t.diagnostic(`wrk: ${r.requests} requests, ${r.errors} failed; new connections: ${JSON.stringify(fresh)}`);
  assert.equal((await hit(P, 'steady.test', '/')).status, 200);
});
