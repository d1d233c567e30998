import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecureContext, createServer, type Server } from 'node:tls';
import { after, test } from 'node:test';
import { probeTls, probeTlsOnce } from '../src/proxy/edge/tls-probe.js';
import { selfSigned } from './helpers/certs.js';

/**
 * The doctor's TLS probe against a real TLS server on 127.0.0.1 that has no certificate for its
 * first handshakes, as Caddy has none for a few milliseconds after each config change (it loads
 * them again into a new cache): a passing moment is not "HTTPS does not work", a lasting one is.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'berth-tls-probe-'));
selfSigned(dir, 'app.test');
const context = createSecureContext({
  cert: readFileSync(path.join(dir, 'app.test', 'fullchain.pem')),
  key: readFileSync(path.join(dir, 'app.test', 'privkey.pem')),
});
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A server that refuses the first `refused` handshakes (no certificate for the name), then serves. */
async function edge(refused: number): Promise<{ port: number; handshakes: () => number }> {
  let seen = 0;
  const server = createServer({
    SNICallback: (_name, cb) => (++seen <= refused ? cb(new Error('no certificate yet')) : cb(null, context)),
  });
  server.on('secureConnection', (s) => s.end());
  server.on('tlsClientError', () => undefined);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, handshakes: () => seen };
}

test('a handshake that fails for a moment, as during a Caddy reload, is tried again and counts as working', async () => {
  const e = await edge(2);
  const once = await probeTlsOnce(e.port, 'app.test');
  assert.match(once.problem ?? '', /TLS handshake fails|socket|ECONNRESET/, 'one try sees the moment');
  const r = await probeTls(e.port, 'app.test', { pauseMs: 50 });
  assert.equal(r.problem, undefined, `the probe tries again: ${r.problem}`);
  assert.equal(e.handshakes(), 3);
});

test('a handshake that keeps failing is reported after the attempts, with the reason', async () => {
  const e = await edge(100);
  const r = await probeTls(e.port, 'app.test', { attempts: 3, pauseMs: 50 });
  assert.ok(r.problem, 'HTTPS broken for good is reported');
  assert.equal(e.handshakes(), 3);
  const wrong = await probeTls((await edge(0)).port, 'other.test', { pauseMs: 50 });
  assert.match(wrong.problem ?? '', /not for it \(DNS:app\.test\)/);
});
