import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A self-signed certificate for `host` in certbot's layout (`<certDir>/<host>/fullchain.pem` and
 * `privkey.pem`), made by openssl, valid for `days`; returns the certificate (PEM) for a client to trust.
 */
export function selfSigned(certDir: string, host: string, days = 2): string {
  const dir = path.join(certDir, host);
  mkdirSync(dir, { recursive: true });
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      String(days),
      '-subj',
      `/CN=${host}`,
      '-addext',
      `subjectAltName=DNS:${host}`,
      '-keyout',
      path.join(dir, 'privkey.pem'),
      '-out',
      path.join(dir, 'fullchain.pem'),
    ],
    { stdio: 'ignore' },
  );
  return readFileSync(path.join(dir, 'fullchain.pem'), 'utf8');
}
