import { checkServerIdentity, connect, type PeerCertificate } from 'node:tls';
import type { TlsHandshake } from '../proxy.js';

/**
 * One TLS handshake with the edge on 127.0.0.1:<port> for `host` (as SNI): whether it succeeds
 * and the certificate served covers the host. Nothing is verified against a CA: a fresh internal
 * certificate counts; what counts is that a browser gets a certificate for the name at all.
 */
export function probeTlsOnce(port: number, host: string, timeoutMs = 5000): Promise<TlsHandshake> {
  return new Promise((resolve) => {
    const done = (problem?: string) => {
      socket.destroy();
      resolve({ host, port, ...(problem ? { problem } : {}) });
    };
    const ip = /^[0-9.]+$/.test(host) || host.includes(':');
    const socket = connect({
      host: '127.0.0.1',
      port,
      ...(ip ? {} : { servername: host }),
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    socket.setTimeout(timeoutMs, () => done(`no TLS answer within ${timeoutMs} ms`));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      done(
        err.code === 'ECONNREFUSED'
          ? `nothing listens on 127.0.0.1:${port}`
          : `the TLS handshake fails: ${err.message.replace(/^.*?:error:[0-9A-F]+:/, '')}`,
      ),
    );
    socket.on('secureConnect', () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      if (Object.keys(cert).length === 0) return done('no certificate is served');
      const mismatch = checkServerIdentity(host, cert);
      done(
        mismatch
          ? `the certificate served is not for it (${cert.subjectaltname || String(cert.subject.CN)})`
          : undefined,
      );
    });
  });
}

/**
 * The handshake as the doctor judges it: a failed one is tried again (`attempts` in all, `pauseMs`
 * apart) before it counts (a timeout is not tried again). Caddy loads its certificates again after every config change, and a
 * handshake in those milliseconds gets "internal error": a passing moment, not HTTPS broken.
 */
export async function probeTls(
  port: number,
  host: string,
  o: { attempts?: number; pauseMs?: number; timeoutMs?: number } = {},
): Promise<TlsHandshake> {
  const attempts = o.attempts ?? 3;
  for (let i = 1; ; i++) {
    const r = await probeTlsOnce(port, host, o.timeoutMs);
    if (r.problem === undefined || i >= attempts || r.problem.startsWith('no TLS answer')) return r;
    await new Promise((res) => setTimeout(res, o.pauseMs ?? 500));
  }
}
