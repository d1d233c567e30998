import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { webSocketExchange } from './helpers/backends.js';
import { selfSigned } from './helpers/certs.js';
import { hit } from './helpers/http.js';
import { hitHttps } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');

/**
 * One suite, three proxies: the same routes through the builtin proxy alone, nginx in
 * front of it, and Caddy in front of it. HTTPS runs where the proxy's capability says it
 * terminates TLS (nginx with a certificate in certbot's layout, Caddy with `tls: internal`);
 * the builtin proxy says it does not, and the suite checks that it says so.
 */
const PROXIES = [
  { kind: 'builtin', range: '24500-24599', https: 18245 },
  { kind: 'nginx', range: '24600-24699', https: 18246 },
  { kind: 'caddy', range: '24700-24799', https: 18247 },
] as const;

const manifest = `app: routes
services:
  api:
    run: ["${NODE}", "${SERVER}"]
    routes: [{ host: routes.test, path: /api/, strip: true, tls: off }, { host: secure.test, tls: internal }]
  web:
    run: ["${NODE}", "${SERVER}"]
    routes: [{ host: routes.test, tls: off }]
  www:
    static: site
    spa: true
    routes: [{ host: www.routes.test, tls: off }]
`;

for (const proxy of PROXIES) {
  describe(`routes through ${proxy.kind}`, () => {
    const home = new TestHome(proxy.range);
    const P = home.httpPort;
    const certDir = path.join(home.root, 'live');
    Object.assign(home.env, {
      BERTH_PROXY: proxy.kind,
      BERTH_INTERNAL_PORT: String(P + 100),
      BERTH_HTTPS_PORT: String(proxy.https),
      BERTH_CERT_DIR: certDir,
    });
    let nginxCa = '';
    before(async () => {
      nginxCa = selfSigned(certDir, 'secure.test');
      assertOk(
        await home.cli(
          'deploy',
          home.app('routes', manifest, { 'site/index.html': '<h1>spa</h1>', 'site/app.js': 'x' }),
        ),
      );
    });
    after(() => home.cleanup());

    test('host routing and a path prefix with strip', async () => {
      const web = (await hit(P, 'routes.test', '/page?q=1')).json();
      assert.ok(web.port > 0);
      const api = await hit(P, 'routes.test', '/api/env');
      assert.ok(api.json().PORT);
      assert.notEqual(String(api.json().PORT), String(web.port), 'the prefix goes to the other service');
      assert.equal((await hit(P, 'nobody.test', '/')).status, 404);
    });

    test('WebSocket echo', async () => {
      const ws = await webSocketExchange(P, 'routes.test', '/socket', ['hello']);
      assert.deepEqual([ws.status, ws.replies], ['HTTP/1.1 101 Switching Protocols', ['echo: hello']]);
    });

    test('static files and the SPA fallback', async () => {
      assert.equal(
        (await hit(P, 'www.routes.test', '/app.js')).headers['content-type'],
        'text/javascript; charset=utf-8',
      );
      assert.equal((await hit(P, 'www.routes.test', '/client/side/route')).text(), '<h1>spa</h1>');
      assert.equal(
        (await hit(P, 'www.routes.test', '/assets/missing.js')).status,
        404,
        'a missing file is not the SPA',
      );
      assert.equal((await hit(P, 'www.routes.test', '/v1.2/page')).text(), '<h1>spa</h1>', 'a dot in a directory is');
    });

    test('502 when the upstream is down', async () => {
      assertOk(await home.cli('stop', 'routes', 'web'));
      assert.equal((await hit(P, 'routes.test', '/')).status, 502);
      assertOk(await home.cli('start', 'routes', 'web'));
      assert.equal((await hit(P, 'routes.test', '/')).status, 200);
    });

    test('proxy status names every port; berth routes shows TLS per route; berth ps lists static services', async () => {
      const status = (await home.cli('proxy', 'status')).stdout;
      const ports =
        proxy.kind === 'builtin'
          ? `ports: http ${P},`
          : `ports: http ${P}, https ${proxy.https}, internal ${P + 100} (`;
      assert.ok(status.includes(ports), status);
      const lines = (await home.cli('routes')).stdout.split('\n');
      assert.match(lines[0] ?? '', /HEALTHY +TLS$/);
      const tls = (host: string) =>
        lines
          .find((l) => l.startsWith(host + ' '))
          ?.trim()
          .split(/ {2,}/)
          .pop();
      // berth ps lists the static service too (nothing runs for it: no pid, no port).
      const ps = await home.json<Array<{ service: string; kind?: string; state: string; pid: number | null }>>('ps');
      assert.deepEqual(
        ps.filter((r) => r.service === 'www').map((r) => [r.kind, r.state, r.pid]),
        [['static', 'static', null]],
      );
      if (proxy.kind === 'builtin') assert.equal(tls('secure.test'), 'none (plain HTTP)');
      else assert.deepEqual([tls('secure.test'), tls('routes.test')], ['internal', 'off']);
    });

    test('HTTPS where the proxy terminates TLS', async () => {
      const status = await home.json<{ kind: string }>('proxy', 'status');
      assert.equal(status.kind, proxy.kind);
      if (proxy.kind === 'builtin') {
        // The builtin proxy's capabilities say tls: false; Caddy or nginx terminate TLS in front of it.
        assert.equal((await hit(P, 'secure.test', '/env')).status, 200, 'served over plain HTTP');
        return;
      }
      const ca =
        proxy.kind === 'nginx'
          ? nginxCa
          : readFileSync(path.join(home.home, 'caddy', 'data', 'pki', 'authorities', 'local', 'root.crt'), 'utf8');
      const r = await waitFor(
        'HTTPS',
        () => hitHttps(proxy.https, 'secure.test', '/env', ca).catch(() => undefined),
        15_000,
        200,
      );
      assert.ok(r.json().PORT);
      const redirect = await hit(P, 'secure.test', '/x');
      assert.ok([301, 308].includes(redirect.status), `HTTP redirects to HTTPS (${redirect.status})`);
      assert.equal(redirect.headers.location, `https://secure.test:${proxy.https}/x`);
    });
  });
}
