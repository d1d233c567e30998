import type { Facts } from '../facts.js';
import { describeProcess } from '../facts.js';
import type { Finding } from '../finding.js';
import { belongsTo } from './ownership.js';

/** Routes the proxy serves right now, against who really listens behind them. */
export function routeChecks(f: Facts): Finding[] {
  const out: Finding[] = [];
  const wanted = [...f.manifests.values()].some((m) => m.services.some((s) => s.routes.length > 0));
  if (!f.proxyTable) {
    if (wanted) out.push({ severity: 'error', code: 'proxy-down', message: 'the proxy is not answering: no route is served', fix: 'berth proxy start' });
    return out;
  }
  for (const r of f.proxyTable.routes) {
    const where = { app: r.app, env: r.env, service: r.service };
    const route = `route ${r.host}${r.path} (${r.app}/${r.env}/${r.service})`;
    if (!f.apps.includes(r.app)) {
      out.push({ severity: 'warning', code: 'route-unknown', ...where, message: `${route} is served by the proxy, but Berth has no such app`, fix: 'berth proxy start' });
      continue;
    }
    if (r.static) continue;
    if (r.upstreams.length === 0) {
      out.push({ severity: 'error', code: 'route-no-upstream', ...where, message: `${route} has no healthy instance behind it: every request gets 502`, fix: `berth ps ${r.app}, then berth restart ${r.app} ${r.service}`, deployFixes: true });
      continue;
    }
    for (const upstream of r.upstreams) {
      const port = Number(upstream.split(':')[1]);
      const holders = f.listening.get(port);
      const instances = f.instances.filter((v) => v.app === r.app && v.env === r.env && v.service === r.service && v.port === port);
      if (!holders) {
        out.push({ severity: 'error', code: 'route-dead-upstream', ...where, message: `${route} sends traffic to ${upstream}, where nothing listens`, fix: `berth restart ${r.app} ${r.service}`, deployFixes: true });
      } else if (holders.length > 0 && !holders.some((p) => instances.some((v) => belongsTo(f, p, v)))) {
        out.push({ severity: 'error', code: 'route-foreign-upstream', ...where, message: `${route} sends traffic to ${upstream}, which is answered by ${holders.map(describeProcess).join('; ')}, not by ${r.app}/${r.service}`, fix: `kill ${holders.map((p) => p.pid).join(' ')} && berth restart ${r.app} ${r.service}` });
      }
    }
  }
  return out;
}
