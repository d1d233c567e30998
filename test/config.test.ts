import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { manifestJsonSchema } from '../src/config/json-schema.js';
import { parseManifest } from '../src/config/manifest.js';
import { dependencyWaves } from '../src/core/waves.js';
import { decideAfterExit } from '../src/core/restart-policy.js';
import { REPO } from './helpers/home.js';

test('schema/berth.schema.json is generated from the current zod schema (run `npm run schema` when this fails)', () => {
  const committed = readFileSync(path.join(REPO, 'schema', 'berth.schema.json'), 'utf8');
  assert.equal(committed, manifestJsonSchema());
});

test('a valid manifest becomes a frozen, normalised object with defaults', () => {
  const m = parseManifest(
    `app: shop
services:
  api:
    run: uvicorn app:main --port $PORT
    env: { DEBUG: false, WORKERS: 2 }
    health: { http: /healthz, start_timeout: 30s }
  web:
    run: [node, server.js]
    port: 8000
    depends_on: [api]
    restart: on-failure
    stop_timeout: 500ms
    routes: ["shop.example.com", { host: shop.example.com, path: /api/, strip: true }]
`,
    'berth.yaml',
  );
  assert.ok(Object.isFrozen(m) && Object.isFrozen(m.services) && Object.isFrozen(m.services[0]?.env));
  const [api, web] = m.services;
  assert.ok(api && web, 'two services');
  assert.deepEqual(api.argv, ['sh', '-c', 'uvicorn app:main --port $PORT']);
  assert.deepEqual(api.env, { DEBUG: 'false', WORKERS: '2' });
  assert.equal(api.port, 'auto');
  assert.equal(api.restart, 'always');
  assert.equal(api.stopTimeoutMs, 10_000);
  assert.deepEqual(api.health.probe, { kind: 'http', path: '/healthz', status: undefined });
  assert.equal(api.health.startTimeoutMs, 30_000);
  assert.deepEqual(web.argv, ['node', 'server.js']);
  assert.equal(web.port, 8000);
  assert.equal(web.stopTimeoutMs, 500);
  assert.deepEqual(web.routes, [
    { host: 'shop.example.com', path: '/', strip: false, tls: 'auto' },
    { host: 'shop.example.com', path: '/api/', strip: true, tls: 'auto' },
  ]);
  assert.deepEqual(web.health.probe, { kind: 'listening' });
  assert.throws(() => ((m as { app: string }).app = 'x'));
});

test('dependency waves follow depends_on and name a cycle', () => {
  const w = dependencyWaves([
    { name: 'web', dependsOn: ['api'] },
    { name: 'api', dependsOn: ['auth', 'db'] },
    { name: 'auth', dependsOn: [] },
    { name: 'db', dependsOn: [] },
  ]);
  assert.deepEqual(w, { ok: true, waves: [['auth', 'db'], ['api'], ['web']] });
  const c = dependencyWaves([
    { name: 'a', dependsOn: ['b'] },
    { name: 'b', dependsOn: ['a'] },
  ]);
  assert.deepEqual(c, { ok: false, cycle: ['a', 'b', 'a'] });
});

test('restart policy: immediate first restart, doubling backoff, crashloop after 5 quick failures, reset after 60 s up', () => {
  const quick = (recentFailures: number) =>
    decideAfterExit({ policy: 'always', code: 1, signal: null, uptimeMs: 100, recentFailures });
  assert.deepEqual(quick(0), { restart: true, delayMs: 0, crashloop: false, failures: 1 });
  assert.deepEqual(quick(1), { restart: true, delayMs: 250, crashloop: false, failures: 2 });
  assert.deepEqual(quick(2), { restart: true, delayMs: 500, crashloop: false, failures: 3 });
  assert.deepEqual(quick(4), { restart: true, delayMs: 2000, crashloop: true, failures: 5 });
  assert.equal((quick(20) as { delayMs: number }).delayMs, 30_000);
  assert.deepEqual(decideAfterExit({ policy: 'always', code: 1, signal: null, uptimeMs: 61_000, recentFailures: 9 }), {
    restart: true,
    delayMs: 0,
    crashloop: false,
    failures: 1,
  });
  assert.equal(
    decideAfterExit({ policy: 'on-failure', code: 0, signal: null, uptimeMs: 5, recentFailures: 0 }).restart,
    false,
  );
  assert.equal(
    decideAfterExit({ policy: 'on-failure', code: null, signal: 'SIGKILL', uptimeMs: 5, recentFailures: 0 }).restart,
    true,
  );
  assert.equal(
    decideAfterExit({ policy: 'never', code: 1, signal: null, uptimeMs: 5, recentFailures: 0 }).restart,
    false,
  );
});

test('host settings: config.yaml sets ports and the proxy, env overrides, bad values are named', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { loadHostSettings } = await import('../src/config/host-settings.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-settings-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(
    file,
    'port_range: "21000-21999"\nhttp_port: 8088\nhttp_address: 127.0.0.1\nreleases_keep: 3\nupstream_timeout: 30\n',
  );
  const s = await loadHostSettings(file, {});
  assert.deepEqual(
    [s.portRange, s.httpPort, s.httpAddress, s.releasesKeep, s.upstreamTimeoutMs],
    [{ low: 21000, high: 21999 }, 8088, '127.0.0.1', 3, 30_000],
  );
  const o = await loadHostSettings(file, { BERTH_HTTP_PORT: '9090', BERTH_PORT_RANGE: '22000-22099' });
  assert.deepEqual([o.portRange, o.httpPort], [{ low: 22000, high: 22099 }, 9090]);
  writeFileSync(file, 'upstream_timeout: 0\n');
  await assert.rejects(loadHostSettings(file, {}), /upstream_timeout/);
  writeFileSync(file, 'http_prot: 80\n');
  await assert.rejects(loadHostSettings(file, {}), /config\.yaml/);
  await assert.rejects(
    loadHostSettings(path.join(dir, 'none.yaml'), { BERTH_PORT_RANGE: '100-50' }),
    /BERTH_PORT_RANGE: expected a port range "low-high" within 1024-65535, got "100-50"/,
  );
});
