import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { type TestDockerd, withEngine } from './dockerd.js';
import { hit } from './http.js';
import { assertOk, NODE, TestHome, waitFor } from './home.js';

/** Asks $<DEP>_URL + path on every request (busybox CGI: httpd passes its environment on). */
const cgi = (dep: string, path: string) => `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf '%s %s <- ' "$SERVICE" "$VERSION"
timeout 5 wget -qO- "$${dep}_URL${path}" || echo "cannot reach $${dep}_URL"
`;

/** A node process: `api` answers its version; `web` asks FRONT_URL at start (kept in $DATA_DIR) and on each request. */
const NODE_APP = `import { createServer, get } from 'node:http';
import { writeFileSync } from 'node:fs';
const name = process.env.SERVICE;
const ask = (url) => new Promise((resolve) => {
  get(url, { agent: false }, (r) => {
    let b = '';
    r.on('data', (c) => (b += c));
    r.on('end', () => resolve(b.trim()));
  }).on('error', (e) => resolve('error ' + e.message));
});
const dep = () => ask(process.env.FRONT_URL + '/cgi-bin/box');
if (name === 'web') writeFileSync(process.env.DATA_DIR + '/web-' + process.env.VERSION, await dep());
createServer(async (req, res) => {
  res.end(name === 'web' ? 'web ' + process.env.VERSION + ' <- ' + (await dep()) : 'api ' + process.env.VERSION);
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

/**
 * Four waves across both kinds, each the dependency of the next: api (process) <- box (container)
 * <- front (container) <- web (process). box also asks API_URL as it starts, before its release
 * serves, into its volume: the gateway listens before a container that needs it starts.
 */
const manifest = (version: string) => `app: mixed
services:
  api:
    run: ["${NODE}", "app.mjs"]
    env: { SERVICE: api, VERSION: ${version} }
  box:
    image: berth-test/mixed:1
    container_port: 8080
    depends_on: [api]
    run: 'timeout 5 wget -qO- "$API_URL/" > /data/box-$VERSION || echo "box cannot reach $API_URL"; exec httpd -f -p 8080 -h /www'
    volumes: { /data: files }
    env: { SERVICE: box, VERSION: ${version} }
    health: { http: /health }
    stop_timeout: 1s
  front:
    image: berth-test/mixed:1
    container_port: 8080
    depends_on: [box]
    env: { SERVICE: front, VERSION: ${version} }
    health: { http: /health }
    stop_timeout: 1s
  web:
    run: ["${NODE}", "app.mjs"]
    depends_on: [front]
    env: { SERVICE: web, VERSION: ${version} }
    routes: [mixed.test]
`;

/**
 * The mixed stack on one engine (dockerd, or Podman: TestPodman): four waves across both kinds, a
 * process reaching a container and a container reaching a process through its network's gateway
 * listener; then (unless `redeploy` is false: the engine's part is the first deploy's) a second
 * deploy and a kill -9 of berthd. Returns the test file's home.
 */
export function mixedStack(dockerd: TestDockerd, range: string, opts: { redeploy?: boolean } = {}): TestHome {
  const home = new TestHome(range);
  const P = home.httpPort;
  withEngine(home, dockerd, async () => {
    await dockerd.buildImage('berth-test/mixed:1', {
      health: 'ok\n',
      'cgi-bin/api': cgi('API', '/'),
      'cgi-bin/box': cgi('BOX', '/cgi-bin/api'),
    });
  });

  const deploy = async (version: string) => {
    const dir = home.app('mixed', manifest(version), { 'app.mjs': NODE_APP });
    assertOk(await home.cli('deploy', dir), `deploy ${version}`);
  };
  const chain = (v: string) => `web ${v} <- front ${v} <- box ${v} <- api ${v}`;
  const data = () => path.join(home.home, 'data', 'mixed', 'production');
  const opens = (host: string, port: number) =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('data', () => resolve(true)).once('close', () => resolve(false));
      s.once('error', () => resolve(false));
      s.end('GET / HTTP/1.0\r\n\r\n');
    });

  /** What the first deploy found, for the second test. */
  let first: { gateway: string; apiAddress: number; frontAddress: number } | undefined;
  test('processes and containers in one manifest reach each other both ways, wave after wave, by release', async () => {
    await deploy('v1');
    assert.equal((await hit(P, 'mixed.test', '/')).text(), chain('v1'), 'process -> container -> container -> process');
    assert.equal(readFileSync(path.join(data(), 'web-v1'), 'utf8'), chain('v1').replace('web v1 <- ', ''));
    const logs = async () => (await home.cli('logs', 'mixed', '--service', 'box')).stdout;
    assert.equal(
      readFileSync(path.join(data(), 'files', 'box-v1'), 'utf8'),
      'api v1',
      `box reached api as it started; ${await logs()}`,
    );

    // A container's variables name its network's gateway; a process's, 127.0.0.1.
    const run = await home.cli('run', 'mixed', '--service', 'web', '--', 'sh', '-c', 'echo "$FRONT_URL"');
    assertOk(run);
    const frontAddress = Number(/^http:\/\/127\.0\.0\.1:(\d+)$/.exec(run.stdout.trim())?.[1]);
    assert.ok(frontAddress > 0, run.stdout);
    const [boxContainer] = await dockerd.engine.call<{ Id: string }[]>(
      'GET',
      `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: ['berth.service=box'] }))}`,
    );
    assert.ok(boxContainer);
    const inspected = await dockerd.engine.call<{ Config: { Env: string[] } }>(
      'GET',
      `/containers/${boxContainer.Id}/json`,
    );
    const apiUrl = inspected.Config.Env.find((e) => e.startsWith('API_URL='))?.slice('API_URL='.length) ?? '';
    const m = /^http:\/\/((?!127\.)\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(apiUrl);
    assert.ok(m, `API_URL of a container is on its gateway: ${apiUrl}`);
    const [gateway, apiAddress] = [m[1] as string, Number(m[2])];
    assert.equal(await opens(gateway, apiAddress), true, 'the host itself is on that network: it may connect');
    first = { gateway, apiAddress, frontAddress };
  });

  if (opts.redeploy === false) return home;
  test('a redeploy moves both kinds to the new release, addresses and all; a restarted berthd keeps the gateway listeners', async () => {
    assert.ok(first, 'the first deploy passed');
    const { gateway, apiAddress, frontAddress } = first;
    await deploy('v2');
    assert.equal((await hit(P, 'mixed.test', '/')).text(), chain('v2'), 'the new release reaches the new release');
    assert.equal(readFileSync(path.join(data(), 'web-v2'), 'utf8'), chain('v2').replace('web v2 <- ', ''));
    assert.equal(readFileSync(path.join(data(), 'files', 'box-v2'), 'utf8'), 'api v2');
    assert.equal(await opens(gateway, apiAddress), false, "release 1's address is gone from the gateway too");
    assert.equal(await opens('127.0.0.1', frontAddress), false, "and from 127.0.0.1: release 1's front address");

    // kill -9 of berthd: the restarted one learns the networks from the engine before its first table,
    // so the gateway listeners stay (the containers it adopts are not started again to tell it).
    const pid = home.daemonPid();
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    await waitFor('berthd gone', () => !existsSync(`/proc/${pid}`));
    assertOk(await home.cli('daemon', 'start'));
    assertOk(await home.cli('restart', 'mixed', 'web')); // a table pushed after the start, whatever it pushed at boot
    assert.equal((await hit(P, 'mixed.test', '/')).text(), chain('v2'));
  });
  return home;
}
