import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Facts } from '../facts.js';
import type { Finding } from '../finding.js';

const DAY = 86_400_000;

/** A certificate the edge serves, with where it comes from and when it expires. */
export interface CertificateFact {
  readonly host: string;
  readonly file: string;
  readonly source: 'nginx' | 'caddy';
  readonly validFrom: number;
  readonly validTo: number;
}

function read(file: string, host: string, source: CertificateFact['source']): CertificateFact | undefined {
  try {
    const cert = new X509Certificate(readFileSync(file));
    return { host, file, source, validFrom: Date.parse(cert.validFrom), validTo: Date.parse(cert.validTo) };
  } catch {
    return undefined;
  }
}

/** nginx: certbot's files for the hosts Berth routes; Caddy: what it keeps in its storage. */
export function findCertificates(
  hosts: readonly string[],
  certDir: string | undefined,
  caddyData: string,
): CertificateFact[] {
  const out: CertificateFact[] = [];
  if (certDir)
    for (const host of hosts) {
      const file = path.join(certDir, host, 'fullchain.pem');
      const c = existsSync(file) ? read(file, host, 'nginx') : undefined;
      if (c) out.push(c);
    }
  const root = path.join(caddyData, 'certificates');
  if (existsSync(root)) {
    for (const issuer of readdirSync(root)) {
      for (const host of readdirSync(path.join(root, issuer))) {
        const c = read(path.join(root, issuer, host, `${host}.crt`), host, 'caddy');
        if (c) out.push(c);
      }
    }
  }
  return out;
}

/**
 * Certificates that expire within 14 days. certbot's are renewed by certbot: within 14
 * days something is wrong. Caddy renews its own when a third of the lifetime is left, so
 * one of its certificates is reported only when it is past that point too (short-lived
 * internal certificates are always within 14 days, and that is fine).
 */
export function tlsChecks(f: Facts): Finding[] {
  const out: Finding[] = [];
  for (const c of f.certificates) {
    const left = c.validTo - f.now;
    const renewalMissed = c.source === 'nginx' || left < (c.validTo - c.validFrom) / 3;
    if (left <= 0) {
      out.push({
        severity: 'error',
        code: 'tls-expired',
        message: `the certificate for ${c.host} (${c.file}) expired on ${new Date(c.validTo).toISOString()}`,
        fix: fixFor(c),
      });
    } else if (left < 14 * DAY && renewalMissed) {
      out.push({
        severity: 'warning',
        code: 'tls-expiring',
        message: `the certificate for ${c.host} (${c.file}) expires in ${Math.floor(left / DAY)} day(s), on ${new Date(c.validTo).toISOString()}`,
        fix: fixFor(c),
      });
    }
  }
  return out;
}

function fixFor(c: CertificateFact): string {
  return c.source === 'nginx'
    ? `certbot renew --cert-name ${c.host}`
    : 'Caddy renews its certificates itself: see why it did not in BERTH_HOME/caddy/caddy.log';
}

/**
 * HTTPS as a browser gets it: every host served with TLS whose handshake with the edge fails,
 * or that gets no certificate for its name (Caddy still trying ACME for it, say). A deploy that
 * changes the host's `tls:` repairs it, so pre-flight lets it pass.
 */
export function tlsHandshakeChecks(f: Facts): Finding[] {
  const owner = new Map<string, { app: string; env: string }>();
  for (const e of f.environments)
    for (const s of f.manifests.get(e.id)?.services ?? [])
      for (const r of s.routes) if (r.tls !== 'off') owner.set(r.host, { app: e.app, env: e.name });
  return f.tlsHandshakes
    .filter((h) => h.problem !== undefined)
    .map((h) => ({
      severity: 'error',
      code: 'tls-handshake',
      ...owner.get(h.host),
      message: `HTTPS for ${h.host} does not work: ${h.problem} (port ${h.port})`,
      fix: `see why in BERTH_HOME/caddy/caddy.log; for a name no public CA certifies, set tls: internal on its routes, or tls: off`,
      deployFixes: true,
    }));
}
