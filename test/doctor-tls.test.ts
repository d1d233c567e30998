import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tlsChecks, tlsHandshakeChecks, type CertificateFact } from '../src/doctor/checks/tls.js';
import type { Facts } from '../src/doctor/facts.js';

const DAY = 86_400_000;
const now = Date.parse('2026-11-22T00:00:00Z');
const facts = (certificates: CertificateFact[]) => ({ certificates, now }) as unknown as Facts;
const cert = (host: string, source: 'nginx' | 'caddy', fromDays: number, toDays: number): CertificateFact => ({
  host,
  source,
  file: `/c/${host}`,
  validFrom: now + fromDays * DAY,
  validTo: now + toDays * DAY,
});

test("TLS: certbot certificates within 14 days warn, expired ones are errors; Caddy's only once its renewal point has passed", () => {
  const findings = tlsChecks(
    facts([
      cert('soon.example.com', 'nginx', -80, 10),
      cert('gone.example.com', 'nginx', -90, -1),
      cert('fine.example.com', 'nginx', -10, 80),
      cert('internal.test', 'caddy', -0.1, 0.4), // a 12-hour internal certificate, fresh: fine
      cert('stuck.example.com', 'caddy', -85, 5), // a 90-day ACME certificate Caddy failed to renew
    ]),
  );
  assert.deepEqual(
    findings.map((f) => [f.severity, f.code, f.message.split(' (')[0]]),
    [
      ['warning', 'tls-expiring', 'the certificate for soon.example.com'],
      ['error', 'tls-expired', 'the certificate for gone.example.com'],
      ['warning', 'tls-expiring', 'the certificate for stuck.example.com'],
    ],
  );
  assert.equal(findings[0]?.fix, 'certbot renew --cert-name soon.example.com');
});

test('TLS: a host whose handshake with the edge fails is an error that names the host, its app and the reason', () => {
  const findings = tlsHandshakeChecks({
    environments: [{ id: 1, app: 'shop', name: 'production' }],
    manifests: new Map([[1, { services: [{ routes: [{ host: 'shop.test', tls: 'auto' }] }] }]]),
    tlsHandshakes: [
      { host: 'shop.test', port: 443, problem: 'the TLS handshake fails: tlsv1 alert internal error' },
      { host: 'fine.test', port: 443 },
    ],
  } as unknown as Facts);
  assert.deepEqual(
    findings.map((f) => [f.severity, f.code, f.app, f.message, f.deployFixes]),
    [
      [
        'error',
        'tls-handshake',
        'shop',
        'HTTPS for shop.test does not work: the TLS handshake fails: tlsv1 alert internal error (port 443)',
        true,
      ],
    ],
  );
});
