import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CaddyAdmin } from '../src/proxy/caddy/admin.js';
import { hit, hitHttps } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * TLS changes at a Caddy edge. `tls: auto` goes to an ACME directory on a loopback port where
 * nothing answers, so a host on `auto` has a real ACME policy and Caddy never reaches a public CA.
 */
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('26000-26099');
const P = home.httpPort;
const HTTPS = 18260;
Object.assign(home.env, { BERTH_PROXY: 'caddy', BERTH_INTERNAL_PORT: '18160', BERTH_HTTPS_PORT: String(HTTPS) });
const admin = () => new CaddyAdmin(`unix/${path.join(home.home, 'caddy', 'admin.sock')}`);
const caddyLog = () => readFileSync(path.join(home.home, 'caddy', 'caddy.log'), 'utf8');
const internalRoot = () =>
  readFileSync(path.join(home.home, 'caddy', 'data', 'pki', 'authorities', 'local', 'root.crt'));

type Mode = 'auto' | 'internal' | 'off';
type Finding = { code: string; message: string; app?: string };
const manifest = (mode: Mode, v: number) => `app: flip
services:
  web:
    run: ["${NODE}", "${SERVER}"]
    env: { VERSION: "${v}" }
    routes: [{ host: flip.test, tls: ${mode} }]
`;

before(async () => {
  mkdirSync(home.home, { recursive: true });
  writeFileSync(path.join(home.home, 'config.yaml'), 'caddy:\n  acme_ca: https://127.0.0.1:9/acme/directory\n');
  assertOk(await home.cli('daemon', 'start'));
});
after(() => home.cleanup());

/** Which of Berth's policies holds the host, and which of Berth's servers routes it. */
async function placeOf(host: string): Promise<{ policies: string[]; route: string | undefined; redirect: boolean }> {
  const a = admin();
  const policies =
    (await a.call<Array<{ '@id'?: string; subjects?: string[] }>>('GET', '/config/apps/tls/automation/policies'))
      .body ?? [];
  const servers =
    (await a.call<Record<string, { routes?: Array<{ '@id'?: string }> }>>('GET', '/config/apps/http/servers')).body ??
    {};
  const id = host.replace(/\./g, '_');
  const route = Object.entries(servers).find(([, s]) =>
    (s.routes ?? []).some((r) => [`berth-host-${id}`, `berth-plain-${id}`].includes(r['@id'] ?? '')),
  )?.[0];
  return {
    policies: (Array.isArray(policies) ? policies : [])
      .filter((p) => p.subjects?.includes(host))
      .map((p) => p['@id'] ?? '?'),
    route,
    redirect: (servers.berth_http?.routes ?? []).some((r) => r['@id'] === `berth-redirect-${id}`),
  };
}

async function assertServed(mode: Mode, v: number): Promise<void> {
  assert.deepEqual(
    await placeOf('flip.test'),
    mode === 'off'
      ? { policies: [], route: 'berth_http', redirect: false }
      : { policies: [`berth-tls-${mode}`], route: 'berth', redirect: true },
    `flip.test on tls: ${mode}`,
  );
  if (mode === 'off') assert.equal((await hit(P, 'flip.test', '/env')).json<{ VERSION: string }>().VERSION, String(v));
  else assert.equal((await hit(P, 'flip.test', '/x')).headers.location, `https://flip.test:${HTTPS}/x`);
  if (mode === 'internal')
    await waitFor(
      `HTTPS for flip.test with release ${v}`,
      async () =>
        (await hitHttps(HTTPS, 'flip.test', '/env', internalRoot()).catch(() => undefined))?.json<{ VERSION: string }>()
          .VERSION === String(v),
      30_000,
      200,
    );
}

test('every change among tls auto, internal and off deploys, and a rollback across one too', async () => {
  const dir = home.app('flip', manifest('auto', 1));
  assertOk(await home.cli('deploy', dir));
  await assertServed('auto', 1);
  // The ACME CA does not answer: Caddy has no certificate for flip.test, and doctor says so.
  const doctor = JSON.parse((await home.cli('doctor', '--json')).stdout) as { findings: Finding[] };
  const tls = doctor.findings.find((f) => f.code === 'tls-handshake');
  assert.match(tls?.message ?? JSON.stringify(doctor.findings), /^HTTPS for flip\.test does not work: /);
  assert.equal(tls?.app, 'flip');
  // auto -> internal -> off -> auto -> off -> internal -> auto: each of the six transitions once.
  const modes: Mode[] = ['internal', 'off', 'auto', 'off', 'internal', 'auto'];
  for (const [i, mode] of modes.entries()) {
    writeFileSync(path.join(dir, 'berth.yaml'), manifest(mode, i + 2));
    assertOk(await home.cli('deploy', dir), `auto/internal/off change to ${mode}`);
    await assertServed(mode, i + 2);
  }
  assertOk(await home.cli('rollback', 'flip'), 'rollback from auto to internal');
  await assertServed('internal', 6);
  assertOk(await home.cli('rollback', 'flip', '4'), 'rollback from internal to auto');
  await assertServed('auto', 4);
  assert.ok(!/acme-v02|zerossl|letsencrypt/.test(caddyLog()), 'no public CA was contacted');
});

/** Caddy's own count of admin API requests: reads and changes (anything but GET). */
async function adminRequests(): Promise<{ reads: number; changes: number }> {
  const text = (await admin().call('GET', '/metrics')).text;
  const out = { reads: 0, changes: 0 };
  for (const m of text.matchAll(/^caddy_admin_http_requests_total\{[^}]*method="(\w+)",path="([^"]*)"\} (\d+)/gm)) {
    if (m[2] === '/metrics') continue;
    if (m[1] === 'GET') out.reads += Number(m[3]);
    else out.changes += Number(m[3]);
  }
  return out;
}

test("with every host on TLS, berthd's watcher leaves Caddy's config alone once it is applied", async () => {
  assertOk(await home.cli('deploy', home.app('flip', manifest('internal', 9))));
  await assertServed('internal', 9);
  const log = path.join(home.home, 'caddy', 'caddy.log');
  const before = await adminRequests();
  const size = statSync(log).size;
  const watched = async () => (await home.json<{ watched?: number }>('proxy', 'status')).watched ?? 0;
  const cycles = await watched();
  await waitFor('ten cycles of the watcher', async () => (await watched()) >= cycles + 10, 60_000, 200);
  const after = await adminRequests();
  assert.equal(after.changes, before.changes, "the watcher changed Caddy's config");
  assert.equal(statSync(log).size, size, `caddy.log grew: ${readFileSync(log, 'utf8').slice(size, size + 1500)}`);
  const berthd = readFileSync(path.join(home.home, 'berthd.log'), 'utf8');
  assert.ok(!berthd.includes("Caddy lost Berth's routes"), 'berthd never thought Caddy lost its routes');
});
