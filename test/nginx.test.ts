import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { renderCommon, renderSite } from '../src/proxy/nginx/render.js';
import { selfSigned } from './helpers/certs.js';
import { hit } from './helpers/http.js';
import { hitHttps } from './helpers/http.js';
import { wrk } from './helpers/proxy-process.js';
import { assertOk, NODE, REPO, TestHome } from './helpers/home.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('24300-24399');
const P = home.httpPort;
const HTTPS = 18243;
const certDir = path.join(home.root, 'live');
Object.assign(home.env, {
  BERTH_PROXY: 'nginx',
  BERTH_INTERNAL_PORT: '18143',
  BERTH_HTTPS_PORT: String(HTTPS),
  BERTH_CERT_DIR: certDir,
});

const certificate = (host: string): string => selfSigned(certDir, host);

let ca = '';
before(async () => {
  ca = certificate('secure.test');
  assertOk(await home.cli('daemon', 'start'));
});
after(() => home.cleanup());

const app = (routes: string, extra = '') => `app: edge
services:
  api:
    run: ["${NODE}", "${SERVER}"]
    routes: [{ host: edge.test, path: /api/, strip: true }, "secure.test"]
${extra}  web:
    run: ["${NODE}", "${SERVER}"]
    routes: [${routes}]
  www:
    static: site
    spa: true
    routes: [www.edge.test]
`;

test('renderer golden files: plain hosts, TLS with an 80->443 redirect, the shared upstream', () => {
  const opts = {
    httpPort: 80,
    httpsPort: 443,
    upstreamPort: 8790,
    certFor: (h: string) =>
      h === 'secure.example.com'
        ? { cert: `/etc/letsencrypt/live/${h}/fullchain.pem`, key: `/etc/letsencrypt/live/${h}/privkey.pem` }
        : undefined,
  };
  const rendered =
    renderCommon(opts) +
    '\n' +
    renderSite({ app: 'shop', hosts: ['secure.example.com', 'shop.example.com', 'www.shop.example.com'] }, opts);
  const golden = path.join(REPO, 'test', 'golden', 'nginx', 'shop.conf');
  if (process.env.UPDATE_GOLDEN) writeFileSync(golden, rendered);
  assert.equal(rendered, readFileSync(golden, 'utf8'));
});

test('deploys do not reload nginx: 5 deploys under wrk load (50 keep-alive connections): zero failed requests', async () => {
  const dir = home.app('edge', app('edge.test'), { 'site/index.html': '<h1>spa</h1>' });
  assertOk(await home.cli('deploy', dir));
  assert.equal((await hitHttps(HTTPS, 'secure.test', '/env', ca)).status, 200);
  const nginxConf = path.join(home.home, 'nginx', 'sites', 'berth-app-edge.conf');
  const before = readFileSync(nginxConf, 'utf8');
  const deploys = (async () => {
    for (let v = 1; v <= 5; v++) {
      writeFileSync(path.join(dir, 'version.txt'), String(v));
      assertOk(await home.cli('deploy', dir));
    }
  })();
  const r = await wrk(`http://127.0.0.1:${P}/`, { connections: 50, seconds: 600, host: 'edge.test', until: deploys });
  await deploys;
  assert.ok(r.requests > 1000, r.output);
  assert.equal(r.errors, 0, r.output);
  assert.equal(r.non2xx, 0, r.output);
  assert.equal(readFileSync(nginxConf, 'utf8'), before, 'the nginx config did not change');
  // The test certificate lives 2 days: doctor says so, with certbot's command.
  const findings = JSON.parse((await home.cli('doctor', '--json')).stdout).findings as Array<{
    code: string;
    message: string;
    fix: string;
    severity: string;
  }>;
  const tls = findings.find((f) => f.code === 'tls-expiring');
  assert.equal(tls?.severity, 'warning');
  assert.match(
    tls.message,
    /the certificate for secure\.test \(.*live\/secure\.test\/fullchain\.pem\) expires in 1 day\(s\)/,
  );
  assert.equal(tls.fix, 'certbot renew --cert-name secure.test');
});

test('nginx -t fails: the previous files come back, nothing reloads, the error quotes nginx; a foreign site survives', async () => {
  const foreign = path.join(home.home, 'nginx', 'sites', 'foreign.conf');
  writeFileSync(
    foreign,
    `server {\n    listen ${P};\n    server_name foreign.test;\n    location / { return 200 "foreign site\\n"; }\n}\n`,
  );
  const dir = path.join(home.root, 'apps', 'edge');
  // A new hostname forces a new config; a broken certificate for it makes nginx -t fail.
  mkdirSync(path.join(certDir, 'broken.test'), { recursive: true });
  writeFileSync(path.join(certDir, 'broken.test', 'fullchain.pem'), 'not a certificate');
  writeFileSync(path.join(certDir, 'broken.test', 'privkey.pem'), 'not a key');
  const conf = path.join(home.home, 'nginx', 'sites', 'berth-app-edge.conf');
  const before = readFileSync(conf, 'utf8');
  writeFileSync(path.join(dir, 'berth.yaml'), app('edge.test, broken.test'));
  const r = await home.cli('deploy', dir, '--json');
  assert.equal(r.code, 1);
  assert.match(
    JSON.parse(r.stdout).error,
    /switch traffic to release \d+: nginx -t failed, so nothing was reloaded and the previous config stays: .*(PEM|certificate)/s,
  );
  assert.equal(readFileSync(conf, 'utf8'), before, 'the previous file is back');
  assert.equal((await hit(P, 'edge.test', '/page')).status, 200, 'the old release serves on');
  writeFileSync(path.join(dir, 'berth.yaml'), app('edge.test'));
  assertOk(await home.cli('rm', 'edge'));
  assert.equal(
    (await hit(P, 'foreign.test', '/')).text(),
    'foreign site\n',
    'the foreign site survives every Berth operation',
  );
  // doctor reads nginx's files: a route Berth did not make, pointing at a dead port, is named.
  const dead = path.join(home.home, 'nginx', 'sites', 'dead.conf');
  writeFileSync(
    dead,
    `server {\n    listen ${P};\n    server_name dead.test;\n    location / { proxy_pass http://127.0.0.1:1; }\n}\n`,
  );
  const findings = JSON.parse((await home.cli('doctor', '--json')).stdout).findings as Array<{
    code: string;
    message: string;
    fix: string;
  }>;
  const f = findings.find((x) => x.code === 'foreign-route-dead');
  assert.equal(
    f?.message,
    `a route Berth did not make sends dead.test to 127.0.0.1:1, where nothing listens (${dead})`,
  );
});
