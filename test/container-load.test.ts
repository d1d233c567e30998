import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TestDockerd, withEngine } from './helpers/dockerd.js';
import { hit } from './helpers/http.js';
import { assertOk, TestHome } from './helpers/home.js';
import { wrk } from './helpers/proxy-process.js';

/**
 * Issue 16's figure for containers, as test/deploy-load's for processes: 20 blue-green deploys of a
 * container app while wrk (no retries) keeps 50 keep-alive connections busy through the builtin proxy.
 * Every request must succeed. The app is a small Node server (the host's node in an image FROM
 * scratch, on a private dockerd), not busybox httpd: that one forks per request, closes every
 * connection and listens with a backlog of 9, so at 50 connections it drops SYNs of its own with
 * or without a deploy (seen here: 1 s retransmits, 5 s timeouts).
 */
const home = new TestHome('32450-32499');
// Not home.httpPort: test/compose-deploy's home (32400-32449) derives the same one from the hundreds.
const P = 18124;
home.env.BERTH_HTTP_PORT = String(P);
const dockerd = new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-')));
const DEPLOYS = 20;
/** Serves its VERSION; ends at SIGTERM (Berth stops an instance only after draining it). */
const SERVER = `import { createServer } from 'node:http';
createServer((q, s) => s.end(q.url === '/health' ? 'ok\\n' : process.env.VERSION + '\\n')).listen(Number(process.env.PORT), '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
`;

withEngine(home, dockerd, async () => {
  await dockerd.buildNodeImage('berth-test/node:1', { 'server.mjs': SERVER }, 'server.mjs');
});

const manifest = (version: number) => `app: loaded
services:
  web:
    image: berth-test/node:1
    container_port: 8080
    env: { VERSION: "${version}" }
    health: { http: /health }
    drain: 2s
    stop_timeout: 2s
    routes: [loaded.test]
`;

test(
  `${DEPLOYS} blue-green deploys of a container app under wrk (50 keep-alive connections) through the builtin proxy: zero failed requests`,
  { timeout: 900_000 },
  async () => {
    const dir = home.app('loaded', manifest(0));
    assertOk(await home.cli('deploy', dir));
    const deploys = (async () => {
      for (let v = 1; v <= DEPLOYS; v++) {
        writeFileSync(path.join(dir, 'berth.yaml'), manifest(v));
        const r = await home.cli('deploy', dir, '--json');
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.equal((JSON.parse(r.stdout) as { release: number }).release, v + 1);
      }
    })();
    // The load lasts as long as the deploys, however long the machine takes for them.
    const res = await wrk(`http://127.0.0.1:${P}/`, {
      connections: 50,
      seconds: 900,
      host: 'loaded.test',
      until: deploys,
    });
    await deploys;
    assert.ok(res.requests >= 1000, `only ${res.requests} requests`);
    assert.equal(res.errors, 0, res.output);
    assert.equal(res.non2xx, 0, res.output);
    assert.equal((await hit(P, 'loaded.test', '/')).text(), `${DEPLOYS}\n`);
    const list = await dockerd.engine.call<unknown[]>('GET', '/containers/json?all=true');
    assert.equal(list.length, 1, 'only the serving release has a container');
  },
);
