import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CaddyAdmin } from '../src/proxy/caddy/admin.js';
import { assertOk, BIN, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * `tls: auto` end to end with a real ACME exchange: Berth's own Caddy obtains a certificate
 * for the host from an ACME CA (a second Caddy running `acme_server`) through the TLS-ALPN or
 * HTTP challenge, which needs ports 443 and 80. Both run in a network namespace of their own,
 * where those ports are free and the names resolve to its loopback (ip netns exec bind-mounts
 * /etc/netns/<name>/hosts over /etc/hosts), so nothing here touches the host's ports, its
 * resolver or any public CA. Needs root (network namespaces), as on CI.
 */
const ROOT = process.getuid?.() === 0;
const NS = `berth-acme-${process.pid}`;
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('25100-25199');
const ca = path.join(home.root, 'acme-ca');
const caRoot = path.join(ca, 'data', 'pki', 'authorities', 'local', 'root.crt');
Object.assign(home.env, {
  BERTH_PROXY: 'caddy',
  BERTH_HTTP_PORT: '80',
  BERTH_HTTPS_PORT: '443',
  BERTH_INTERNAL_PORT: '8790',
});
let caProcess: ChildProcess | undefined;

function inNs(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', NS, cmd, ...args], { env: home.env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr }),
    );
  });
}

before(async () => {
  if (!ROOT) return;
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  mkdirSync(`/etc/netns/${NS}`, { recursive: true });
  writeFileSync(`/etc/netns/${NS}/hosts`, '127.0.0.1 localhost\n127.0.0.1 ca.acme.test shop.acme.test\n');
  mkdirSync(ca, { recursive: true });
  const caConfig = {
    admin: { disabled: true },
    storage: { module: 'file_system', root: path.join(ca, 'data') },
    apps: {
      pki: { certificate_authorities: { local: { install_trust: false } } },
      tls: {
        certificates: { automate: ['ca.acme.test'] },
        automation: { policies: [{ subjects: ['ca.acme.test'], issuers: [{ module: 'internal' }] }] },
      },
      http: {
        http_port: 9080,
        https_port: 9443,
        servers: {
          ca: {
            listen: [':9443'],
            automatic_https: { disable: true },
            tls_connection_policies: [{}],
            routes: [{ handle: [{ handler: 'acme_server', ca: 'local' }] }],
          },
        },
      },
    },
  };
  writeFileSync(path.join(ca, 'caddy.json'), JSON.stringify(caConfig));
  caProcess = spawn('ip', ['netns', 'exec', NS, 'caddy', 'run', '--config', path.join(ca, 'caddy.json')], {
    env: { PATH: process.env.PATH, HOME: ca, XDG_DATA_HOME: ca, XDG_CONFIG_HOME: ca, BERTH_TEST_HOME: home.home },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await waitFor(
    'the ACME CA',
    async () =>
      (
        await inNs('curl', ['-sf', '--cacert', caRoot, 'https://ca.acme.test:9443/acme/local/directory'])
      ).stdout.includes('newOrder'),
    20_000,
    200,
  );
  mkdirSync(home.home, { recursive: true });
  writeFileSync(
    path.join(home.home, 'config.yaml'),
    `caddy:\n  acme_ca: https://ca.acme.test:9443/acme/local/directory\n  acme_ca_root: ${caRoot}\n  acme_email: ops@acme.test\n`,
  );
  // berthd (and so its Caddy, proxy and apps) lives in the namespace; the CLI reaches it over its unix socket from outside.
  const started = await inNs(NODE, [BIN, 'daemon', 'start']);
  assert.equal(started.code, 0, started.stderr);
});

after(async () => {
  if (!ROOT) return;
  await home.cleanup();
  if (caProcess?.pid) {
    try {
      process.kill(caProcess.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  execFile('ip', ['netns', 'del', NS], () => undefined);
  rmSync(`/etc/netns/${NS}`, { recursive: true, force: true });
});

test(
  'tls: auto gets a certificate from the configured ACME CA through Caddy, and HTTP redirects to HTTPS',
  { skip: ROOT ? false : 'needs root: the ACME challenge needs ports 80/443 in a network namespace of its own' },
  async () => {
    const dir = home.app(
      'shop',
      `app: shop
services:
  web:
    run: ["${NODE}", "${SERVER}"]
    env: { WHO: shop }
    routes: [{ host: shop.acme.test, tls: auto }]
`,
    );
    assertOk(await home.cli('deploy', dir));
    // Only the ACME CA's root is trusted here: an answer proves the certificate came from it.
    const r = await waitFor(
      'HTTPS with the ACME certificate',
      async () => {
        const x = await inNs('curl', ['-sf', '--cacert', caRoot, 'https://shop.acme.test/env']);
        return x.code === 0 ? x.stdout : undefined;
      },
      30_000,
      300,
    );
    assert.equal((JSON.parse(r) as { WHO?: string }).WHO, 'shop', r);
    const issuer = await inNs('sh', [
      '-c',
      'openssl s_client -connect 127.0.0.1:443 -servername shop.acme.test </dev/null 2>/dev/null | openssl x509 -noout -issuer',
    ]);
    assert.match(issuer.stdout, /Caddy Local Authority/, "issued by the ACME CA's intermediate");
    const redirect = await inNs('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      'http://shop.acme.test/x?y=1',
    ]);
    assert.equal(redirect.stdout, '308 https://shop.acme.test/x?y=1');
    const log = readFileSync(path.join(home.home, 'caddy', 'caddy.log'), 'utf8');
    assert.match(log, /certificate obtained successfully/);
    assert.ok(!/acme-v02|zerossl|letsencrypt/.test(log), 'no public CA was contacted');
    const policies =
      (
        await new CaddyAdmin(`unix/${path.join(home.home, 'caddy', 'admin.sock')}`).call<Array<{ '@id'?: string }>>(
          'GET',
          '/config/apps/tls/automation/policies',
        )
      ).body ?? [];
    assert.deepEqual(
      policies.find((p) => p['@id'] === 'berth-tls-auto'),
      {
        '@id': 'berth-tls-auto',
        subjects: ['shop.acme.test'],
        issuers: [
          {
            module: 'acme',
            ca: 'https://ca.acme.test:9443/acme/local/directory',
            trusted_roots_pem_files: [caRoot],
            email: 'ops@acme.test',
          },
        ],
      },
    );
  },
);
