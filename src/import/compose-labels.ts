import { HOST_PATTERN, ROUTE_PATH_PATTERN } from '../config/manifest-schema.js';
import type { ServiceContext, ServiceOut } from './import-context.js';
import { at, isMapping, scalarText } from './import-warnings.js';

const ROUTER_RULE = /^traefik\.http\.routers\.[^.]+\.rule$/;
/** Labels that only switch Traefik on or tune its routers; routes replace them. */
const TRAEFIK_PLUMBING = /^traefik\.(enable|docker\.network|http\.(routers|services)\.[^.]+\.)/;

/**
 * `labels:` of a service. Traefik router rules (`Host(\`a.example.com\`)`, with `||` for
 * several hosts and an optional `PathPrefix(\`/api\`)`), as Dokploy and Coolify write them,
 * become `routes:`; the rest of Traefik's labels are replaced by those routes; every other label
 * is reported: Berth labels its containers itself.
 */
export function mapLabels(svc: Record<string, unknown>, ctx: ServiceContext, out: ServiceOut): void {
  const labels = svc.labels;
  if (labels === undefined) return;
  const p = at(ctx.path, 'labels');
  const entries: Array<[string, string, string]> = [];
  if (Array.isArray(labels))
    labels.forEach((item, i) => {
      const text = scalarText(item) ?? '';
      const eq = text.indexOf('=');
      entries.push([eq < 0 ? text : text.slice(0, eq), eq < 0 ? '' : text.slice(eq + 1), at(p, i)]);
    });
  else if (isMapping(labels))
    for (const [k, v] of Object.entries(labels)) entries.push([k, scalarText(v) ?? '', at(p, k)]);
  else return ctx.warn.notMapped(p, 'expected a list or a mapping');
  const routes: string[] = [];
  for (const [key, value, lp] of entries) {
    if (ROUTER_RULE.test(key)) {
      const found = ruleRoutes(value);
      if (typeof found === 'string') ctx.warn.notMapped(lp, found);
      else for (const r of found) if (!routes.includes(r)) routes.push(r);
    } else if (!TRAEFIK_PLUMBING.test(key)) ctx.warn.notMapped(lp, 'Berth labels its containers itself');
  }
  if (routes.length > 0 && out.port === 'none')
    ctx.warn.notMapped(p, `routes ${routes.join(', ')}: the service has no port to route to`);
  else if (routes.length > 0) out.routes = routes;
}

/** The routes of one Traefik rule, or why it has none Berth can express. */
function ruleRoutes(rule: string): string[] | string {
  const hosts = [...rule.matchAll(/Host\(([^)]*)\)/g)].flatMap((m) =>
    (m[1] as string).split(',').map((h) => h.trim().replace(/^[`"']|[`"']$/g, '')),
  );
  const prefixes = [...rule.matchAll(/PathPrefix\(\s*[`"']([^`"']*)[`"']\s*\)/g)].map((m) => m[1] as string);
  const rest = rule.replace(/Host\([^)]*\)|PathPrefix\([^)]*\)/g, '').replace(/\|\||&&|[()\s]/g, '');
  if (hosts.length === 0 || rest !== '' || prefixes.length > 1)
    return 'a Traefik rule other than Host(...) with an optional PathPrefix(...): add routes: by hand';
  const bad = hosts.find((h) => !HOST_PATTERN.test(h));
  if (bad !== undefined) return `host ${JSON.stringify(bad)} is not a lowercase hostname`;
  const prefix = prefixes[0];
  if (prefix !== undefined && !ROUTE_PATH_PATTERN.test(prefix))
    return `path ${JSON.stringify(prefix)} is not a path Berth routes`;
  return hosts.map((h) => (prefix === undefined || prefix === '/' ? h : `${h}${prefix}`));
}
