import { request as httpRequest } from 'node:http';
import { isIP } from 'node:net';
import { assertOutboundHost, checkedLookup } from './outbound.js';

/**
 * POSTs a JSON body to a URL Berth calls on its own behalf (notifications, alerts): 5 s timeout,
 * no redirects followed, never to an internal address unless `allow` (outbound_allow) lists it,
 * checked when connecting. Resolves with the status code.
 */
export async function postJson(url: string, body: string, allow: readonly string[], what: string): Promise<number> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) await assertOutboundHost(host, allow, what);
  // node:https (and TLS with it) is loaded by the first call over HTTPS, not at berthd's start.
  const request = u.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'berth',
        },
        lookup: checkedLookup(allow, what),
        timeout: 5000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}
