import type { ParsedCaddyfile } from './caddy-conf.js';
import type { Directive } from './nginx-conf.js';
import type { FoundRoute } from './nginx-routes.js';
import type { Checklist } from './process-def.js';

/** reverse_proxy's subdirectives that Berth's proxy does by itself (it sets Host and the X-Forwarded-* headers). */
const HEADER_UP_DEFAULTS = /^(Host|X-Real-IP|X-Forwarded-For|X-Forwarded-Proto|X-Forwarded-Host)$/i;
const LOCAL = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0|)$/;

interface Scope {
  readonly hosts: readonly { host: string; tls: FoundRoute['tlsMode'] }[];
  readonly matchers: ReadonlyMap<string, Directive>;
  readonly prefix: string | null;
  readonly strip: boolean;
  readonly at: (d: Directive) => string;
  readonly snippets: ReadonlyMap<string, Snippet>;
}

/**
 * Routes from Caddyfile site blocks: site addresses x `reverse_proxy` to this machine, with the
 * path of its matcher, of the `handle`/`route` around it, or of `handle_path` (which strips the
 * prefix, as `uri strip_prefix` does). Snippets defined in the same files are imported in place.
 * `file_server`/`root` is named as a static service; everything else is a checklist line with
 * its file and line.
 */
export function caddyRoutes(
  conf: ParsedCaddyfile,
  file: string,
  list: Checklist,
  snippets: ReadonlyMap<string, Snippet>,
): FoundRoute[] {
  const at = (d: Directive | { line: number }) => {
    const o = 'name' in d ? originOf.get(d) : undefined;
    return o ? `${o.file} line ${d.line}${o.via}` : `${file} line ${d.line}`;
  };
  for (const p of conf.problems) list.add(`${file} line ${p.line}`, `Caddy would refuse this: ${p.why}`);
  if (conf.global)
    list.add(
      at(conf.global),
      "global options: Berth's edge has its own (an ACME email is the host setting acme_email)",
    );
  const out: FoundRoute[] = [];
  for (const site of conf.sites) {
    const hosts: Scope['hosts'][number][] = [];
    for (const a of site.addresses) {
      const m = /^(?:(https?):\/\/)?([^:/]*)(?::(\d+))?(\/.*)?$/.exec(a);
      const host = m?.[2]?.toLowerCase() ?? '';
      if (!m || !/^[a-z0-9.-]+$/.test(host) || (!host.includes('.') && host !== 'localhost'))
        list.notMapped(at(site), `site address ${a}: a route needs a plain host name (no wildcard, no port alone)`);
      else if (m[4] !== undefined) list.notMapped(at(site), `site address ${a}: a path in a site address`);
      else hosts.push({ host, tls: m[1] === 'http' || m[3] === '80' ? 'off' : undefined });
    }
    const body = expand(site.body, snippets, at, list);
    const matchers = new Map(body.filter((d) => d.name.startsWith('@')).map((d) => [d.name, d]));
    const tls = body.find((d) => d.name === 'tls');
    const scopeHosts = tls?.args[0] === 'internal' ? hosts.map((h) => ({ ...h, tls: 'internal' as const })) : hosts;
    if (tls && tls.args[0] !== 'internal')
      list.add(
        at(tls),
        `tls ${tls.args.join(' ')}: Berth's edge (Caddy) gets certificates itself; the routes keep tls: auto`,
      );
    const scope: Scope = { hosts: scopeHosts, matchers, prefix: null, strip: false, at, snippets };
    out.push(
      ...walk(
        body.filter((d) => d !== tls && !d.name.startsWith('@')),
        scope,
        list,
      ),
    );
  }
  return out;
}

function walk(ds: readonly Directive[], scope: Scope, list: Checklist): FoundRoute[] {
  const out: FoundRoute[] = [];
  for (const d of expand(ds, scope.snippets, scope.at, list)) {
    if (d.name === 'reverse_proxy') {
      const r = proxyRoute(d, scope, list);
      if (r)
        for (const h of scope.hosts)
          out.push({
            host: h.host,
            tls: h.tls !== 'off',
            ...(h.tls ? { tlsMode: h.tls } : {}),
            ...r,
            origin: scope.at(d),
          });
    } else if ((d.name === 'handle' || d.name === 'handle_path' || d.name === 'route') && d.children) {
      const prefix = d.args[0] !== undefined ? matcherPath(d.args[0], scope, d, list) : scope.prefix;
      if (prefix === null && d.args[0] !== undefined) continue;
      const strip =
        d.name === 'handle_path' || d.children.some((c) => c.name === 'uri' && c.args[0] === 'strip_prefix');
      out.push(
        ...walk(
          d.children.filter((c) => !(c.name === 'uri' && c.args[0] === 'strip_prefix')),
          { ...scope, prefix, strip },
          list,
        ),
      );
    } else if (d.name === 'file_server' || d.name === 'root') {
      const root = d.name === 'root' ? d.args.at(-1) : undefined;
      list.notMapped(
        scope.at(d),
        `${d.name} ${d.args.join(' ')}`.trim() +
          `: files served by Caddy${root ? ` from ${root}` : ''}${scope.prefix ? ` under ${scope.prefix}` : ''} are a static service in Berth (static: <dir in the app>, spa: true for a single-page app)`,
      );
    } else list.notMapped(scope.at(d), `${d.name} ${d.args.join(' ')}`.trim());
  }
  return out;
}

function proxyRoute(
  d: Directive,
  scope: Scope,
  list: Checklist,
): { path: string; strip: boolean; port: number } | null {
  const args = [...d.args];
  let path = scope.prefix ?? '/';
  if (args[0] !== undefined && /^[/@*]/.test(args[0])) {
    const p = matcherPath(args.shift() as string, scope, d, list);
    if (p === null) return null;
    path = p;
  }
  for (const c of d.children ?? [])
    if (!(c.name === 'header_up' && HEADER_UP_DEFAULTS.test(c.args[0] ?? '')))
      list.notMapped(scope.at(c), `reverse_proxy's ${c.name} ${c.args.join(' ')}`.trim());
  if (args.length !== 1) {
    list.notMapped(
      scope.at(d),
      args.length === 0
        ? 'reverse_proxy without an upstream'
        : `reverse_proxy to ${args.join(' ')}: several upstreams; Berth balances a service's instances itself (instances: N)`,
    );
    return null;
  }
  const m = /^(?:https?:\/\/)?(\[::1\]|[^:/]*)(?::(\d+))?$/.exec(args[0] as string);
  if (!m || !LOCAL.test(m[1] as string) || m[2] === undefined) {
    list.notMapped(
      scope.at(d),
      `reverse_proxy ${args[0]}: not a port on this machine; Berth routes to its own services`,
    );
    return null;
  }
  return { path, strip: scope.strip && path !== '/', port: Number(m[2]) };
}

/** A route prefix from a path matcher (`/api/*`, `/api*`, `*`, or a named `@m path ...`); null (and a line) when it is no prefix. */
function matcherPath(token: string, scope: Scope, d: Directive, list: Checklist): string | null {
  let p = token;
  if (token.startsWith('@')) {
    const def = scope.matchers.get(token);
    const path = def?.args[0] === 'path' && def.args.length === 2 ? def.args[1] : undefined;
    if (path === undefined) {
      list.notMapped(scope.at(d), `matcher ${token}: only a single path matcher maps to a route's path`);
      return null;
    }
    p = path;
  }
  if (p === '*') return '/';
  if (p.endsWith('/*')) return p.slice(0, -1);
  if (p.endsWith('*') && !p.slice(0, -1).includes('*')) return p.slice(0, -1);
  if (!p.includes('*')) {
    list.add(scope.at(d), `path ${p} matches that path only in Caddy; a Berth route is a prefix (${p} and below)`);
    return p;
  }
  list.notMapped(scope.at(d), `path matcher ${p}: only a prefix (/path/*) maps to a route`);
  return null;
}

/** A snippet `(name) { ... }` and the file it is defined in. */
export interface Snippet {
  readonly file: string;
  readonly body: readonly Directive[];
}

/**
 * One level of directives with `import <snippet>` replaced by the snippet's (blocks inside are
 * expanded when they are walked, so each directive keeps its identity and its file); an import
 * of anything else is named.
 */
function expand(
  ds: readonly Directive[],
  snippets: ReadonlyMap<string, Snippet>,
  at: (d: Directive) => string,
  list: Checklist,
  depth = 0,
): Directive[] {
  return ds.flatMap((d) => {
    if (d.name !== 'import') return [d];
    const snippet = snippets.get(d.args[0] ?? '');
    if (snippet === undefined || depth > 8) {
      list.notMapped(
        at(d),
        `import ${d.args.join(' ')}: not a snippet of these files; read what it does and map it by hand`,
      );
      return [];
    }
    const via = ` (snippet ${d.args[0] ?? ''}, imported at ${at(d)})`;
    const mark = (x: Directive): void => {
      originOf.set(x, { file: snippet.file, via });
      for (const c of x.children ?? []) mark(c);
    };
    snippet.body.forEach(mark);
    return expand(snippet.body, snippets, at, list, depth + 1);
  });
}

/** Where a snippet's directive is written, and the import that brought it into the site being read. */
const originOf = new WeakMap<Directive, { file: string; via: string }>();
