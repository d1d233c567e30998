import type { Site } from '../edge/sites.js';

/** Where the rendered config points and listens. */
export interface NginxRenderOptions {
  readonly httpPort: number;
  readonly httpsPort: number;
  /** The builtin proxy behind nginx: 127.0.0.1:<port>. */
  readonly upstreamPort: number;
  /** Certificate files for a host, if it has them (certbot's layout by default). */
  readonly certFor: (host: string) => { cert: string; key: string } | undefined;
}

/** Shared by every Berth site: the upstream pool and the WebSocket connection map. */
export function renderCommon(o: NginxRenderOptions): string {
  return `# Managed by Berth. Changes here are overwritten.
map $http_upgrade $berth_connection {
    default upgrade;
    '' '';
}

upstream berth_proxy {
    server 127.0.0.1:${o.upstreamPort};
    keepalive 64;
}
`;
}

const PROXY = `        proxy_pass http://berth_proxy;
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $berth_connection;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;
        proxy_buffering off;
        proxy_request_buffering off;
        proxy_read_timeout 1h;`;

/**
 * One file per app: a server block for its plain-HTTP hosts, and for each host with a
 * certificate an HTTPS server plus an HTTP server that redirects to it (as seed 001 did
 * by hand). Everything goes to the builtin proxy, which routes paths and switches releases.
 */
export function renderSite(site: Site, o: NginxRenderOptions): string {
  const secure = (h: string) => site.tls?.[h] !== 'off' && o.certFor(h) !== undefined;
  const tls = site.hosts.filter(secure);
  const plain = site.hosts.filter((h) => !secure(h));
  const port = o.httpsPort === 443 ? '' : `:${o.httpsPort}`;
  const blocks = [`# Managed by Berth for app ${site.app}. Changes here are overwritten.`];
  if (plain.length > 0) {
    blocks.push(
      `server {\n    listen ${o.httpPort};\n    server_name ${plain.join(' ')};\n    location / {\n${PROXY}\n    }\n}`,
    );
  }
  for (const host of tls) {
    const c = o.certFor(host) as { cert: string; key: string };
    blocks.push(
      `server {\n    listen ${o.httpPort};\n    server_name ${host};\n    return 301 https://$host${port}$request_uri;\n}`,
    );
    blocks.push(
      `server {\n    listen ${o.httpsPort} ssl;\n    server_name ${host};\n    ssl_certificate ${c.cert};\n    ssl_certificate_key ${c.key};\n    location / {\n${PROXY}\n    }\n}`,
    );
  }
  return blocks.join('\n\n') + '\n';
}
