import type { Checklist } from './process-def.js';
import type { Directive } from './nginx-conf.js';

/** A route found in an nginx server block (or a Caddyfile site), with the local port its proxy_pass reaches. */
export interface FoundRoute {
  readonly host: string;
  readonly path: string;
  readonly strip: boolean;
  readonly tls: boolean;
  /** A route's tls other than auto: "internal" (Caddy's `tls internal`), "off" (an http:// site). */
  readonly tlsMode?: 'internal' | 'off';
  readonly port: number;
  readonly origin: string;
}

/** Directives of a proxied location that Berth's proxy does by itself: not worth a checklist line. */
const PROXY_DEFAULTS = new Set([
  'proxy_set_header',
  'proxy_http_version',
  'proxy_redirect',
  'proxy_buffering',
  'proxy_cache_bypass',
  'proxy_read_timeout',
  'proxy_connect_timeout',
  'proxy_send_timeout',
  '...',
]);
const SERVER_TLS = new Set([
  'ssl_certificate',
  'ssl_certificate_key',
  'ssl_protocols',
  'ssl_ciphers',
  'ssl_prefer_server_ciphers',
  'include',
  'ssl_dhparam',
  'ssl_session_cache',
  'ssl_session_timeout',
]);
const LOCAL = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0)$/;

/**
 * Routes from the `server` blocks of nginx configuration (top level or inside `http`):
 * `server_name` x `location` with a `proxy_pass` to this machine. `upstream` blocks are resolved
 * to their (single) local server. A proxy_pass with a URI of "/" strips the location's prefix, as
 * nginx does. Everything else is a checklist line with its file and line.
 */
export function nginxRoutes(directives: readonly Directive[], file: string, list: Checklist): FoundRoute[] {
  const all = flatten(directives);
  const upstreams = new Map<string, number | null>();
  for (const u of all.filter((d) => d.name === 'upstream' && d.children)) {
    const servers = (u.children ?? []).filter((d) => d.name === 'server');
    const port = servers.length === 1 ? localPort(servers[0]?.args[0] ?? '') : null;
    if (port === null)
      list.notMapped(
        `${file} line ${u.line}`,
        `upstream ${u.args[0]}: only one server on this machine maps to a service (Berth balances instances itself)`,
      );
    upstreams.set(u.args[0] ?? '', port);
  }
  const out: FoundRoute[] = [];
  for (const server of all.filter((d) => d.name === 'server' && d.children))
    out.push(...serverRoutes(server, file, upstreams, list));
  return out;
}

function serverRoutes(
  server: Directive,
  file: string,
  upstreams: Map<string, number | null>,
  list: Checklist,
): FoundRoute[] {
  const at = (d: Directive) => `${file} line ${d.line}`;
  const kids = server.children ?? [];
  const names = kids.filter((d) => d.name === 'server_name').flatMap((d) => d.args);
  const tls = kids.some((d) => (d.name === 'listen' && d.args.includes('ssl')) || d.name === 'ssl_certificate');
  const hosts = names.filter((n) => {
    const ok = /^[a-z0-9.-]+$/i.test(n) && n.includes('.');
    if (!ok)
      list.notMapped(`${at(server)}`, `server_name ${n}: a route needs a plain host name (no _, wildcard or regex)`);
    return ok;
  });
  const redirect = kids.find(
    (d) => d.name === 'return' && /^30[18]$/.test(d.args[0] ?? '') && (d.args[1] ?? '').startsWith('https://'),
  );
  if (redirect) {
    list.add(
      at(redirect),
      `redirect of ${names.join(' ')} to https: Berth's edge redirects http to https for tls routes itself`,
    );
    return [];
  }
  if (tls) {
    const cert = kids.find((d) => d.name === 'ssl_certificate');
    list.add(
      at(server),
      `TLS for ${hosts.join(', ')}${cert ? ` (certificate ${cert.args[0]})` : ''}: Berth's edge (Caddy) gets certificates itself; the routes keep tls: auto`,
    );
  }
  const out: FoundRoute[] = [];
  for (const d of kids) {
    if (d.name === 'location' && d.children) {
      const route = locationRoute(d, file, upstreams, list);
      if (route) for (const host of hosts) out.push({ host: host.toLowerCase(), ...route, tls, origin: at(d) });
    } else if (!['server_name', 'listen', 'return'].includes(d.name) && !SERVER_TLS.has(d.name))
      list.notMapped(at(d), `${d.name} ${d.args.join(' ')}`.trim());
  }
  return out;
}

function locationRoute(
  loc: Directive,
  file: string,
  upstreams: Map<string, number | null>,
  list: Checklist,
): { path: string; strip: boolean; port: number } | null {
  const where = `${file} line ${loc.line}`;
  if (loc.args.length !== 1) {
    list.notMapped(where, `location ${loc.args.join(' ')}: only prefix locations map to routes (no =, ~ or regex)`);
    return null;
  }
  const prefix = loc.args[0] as string;
  const pass = (loc.children ?? []).find((d) => d.name === 'proxy_pass');
  for (const d of loc.children ?? [])
    if (d !== pass && !PROXY_DEFAULTS.has(d.name))
      list.notMapped(`${file} line ${d.line}`, `${d.name} ${d.args.join(' ')}`.trim());
  if (!pass) {
    list.notMapped(
      where,
      `location ${prefix} does not proxy: files served by nginx are a static service (static: dir) in Berth`,
    );
    return null;
  }
  const m = /^https?:\/\/([^/]+?)(?::(\d+))?(\/.*)?$/.exec(pass.args[0] ?? '');
  if (!m) {
    list.notMapped(where, `proxy_pass ${pass.args[0]}: not an http:// address`);
    return null;
  }
  const [, host, portText, uri] = m as unknown as [string, string, string | undefined, string | undefined];
  const port = upstreams.has(host) ? (upstreams.get(host) ?? null) : LOCAL.test(host) ? Number(portText ?? 80) : null;
  if (port === null) {
    if (!upstreams.has(host))
      list.notMapped(where, `proxy_pass ${pass.args[0]}: another machine; Berth routes to its own services`);
    return null;
  }
  if (uri !== undefined && uri !== '/') {
    list.notMapped(
      where,
      `proxy_pass ${pass.args[0]} rewrites ${prefix} to ${uri}: a route keeps the path, or strips the prefix (strip: true)`,
    );
    return null;
  }
  const path = prefix;
  return { path, strip: uri === '/' && prefix !== '/', port };
}

function flatten(ds: readonly Directive[]): Directive[] {
  return ds.flatMap((d) => (d.name === 'http' && d.children ? flatten(d.children) : [d]));
}

function localPort(address: string): number | null {
  const m = /^([^:]+|\[::1\]):(\d+)$/.exec(address);
  return m && LOCAL.test(m[1] as string) ? Number(m[2]) : null;
}
