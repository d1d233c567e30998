import type { Facts, ProcessFact } from '../facts.js';
import { describeProcess } from '../facts.js';
import type { Finding } from '../finding.js';
import { stoppedOnPurpose } from './instances.js';
import { belongsTo, markedInstance } from './ownership.js';

/** Routes the proxy serves right now, against who really listens behind them. */
export function routeChecks(f: Facts): Finding[] {
  const out: Finding[] = [];
  const wanted = [...f.manifests.values()].some((m) => m.services.some((s) => s.routes.length > 0));
  if (!f.proxyTable) {
    if (wanted)
      out.push({
        severity: 'error',
        code: 'proxy-down',
        message: 'the proxy is not answering: no route is served',
        fix: 'berth proxy start',
      });
    return out;
  }
  for (const r of f.proxyTable.routes) {
    const where = { app: r.app, env: r.env, service: r.service };
    const route = `route ${r.host}${r.path} (${r.app}/${r.env}/${r.service})`;
    if (!f.apps.includes(r.app)) {
      out.push({
        severity: 'warning',
        code: 'route-unknown',
        ...where,
        message: `${route} is served by the proxy, but Berth has no such app`,
        fix: 'berth proxy start',
      });
      continue;
    }
    if (r.static) continue;
    if (r.upstreams.length === 0 && stoppedOnPurpose(f, r.app, r.env, r.service)) continue; // an info of its own
    if (r.upstreams.length === 0) {
      out.push({
        severity: 'error',
        code: 'route-no-upstream',
        ...where,
        message: `${route} has no healthy instance behind it: every request gets 502`,
        fix: `berth ps ${r.app}, then berth restart ${r.app} ${r.service}`,
        deployFixes: true,
      });
      continue;
    }
    for (const upstream of r.upstreams) {
      const port = Number(upstream.split(':')[1]);
      const holders = f.listening.get(port);
      const instances = f.instances.filter(
        (v) => v.app === r.app && v.env === r.env && v.service === r.service && v.port === port,
      );
      if (!holders) {
        out.push({
          severity: 'error',
          code: 'route-dead-upstream',
          ...where,
          message: `${route} sends traffic to ${upstream}, where nothing listens`,
          fix: `berth restart ${r.app} ${r.service}`,
          deployFixes: true,
        });
      } else if (holders.length > 0 && !holders.some((p) => instances.some((v) => belongsTo(f, p, v)))) {
        out.push({
          severity: 'error',
          code: 'route-foreign-upstream',
          ...where,
          message: `${route} sends traffic to ${upstream}, which is answered by ${holders.map(describeProcess).join('; ')}, not by ${r.app}/${r.service}`,
          fix: strangers(f, holders).length
            ? `kill ${strangers(f, holders).join(' ')} && berth restart ${r.app} ${r.service}`
            : `make the instance that holds it listen on its own $PORT, then berth restart ${r.app} ${r.service}`,
        });
      }
    }
  }
  return out;
}

/** Routes in Caddy's or nginx's live config whose upstream is a local port where nothing listens. */
export function edgeRouteChecks(f: Facts): Finding[] {
  const out: Finding[] = [];
  for (const r of f.edgeRoutes) {
    for (const dial of r.dials) {
      const [host, port] = dial.split(':');
      if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host ?? '') || f.listeningPorts.has(Number(port)))
        continue;
      const hosts = r.hosts.length ? r.hosts.join(', ') : 'any host';
      if (r.berth)
        out.push({
          severity: 'error',
          code: 'edge-upstream-dead',
          message: `the edge sends ${hosts} to ${dial}, Berth's proxy, but nothing listens there (${r.where})`,
          fix: 'berth proxy start',
        });
      else
        out.push({
          severity: 'warning',
          code: 'foreign-route-dead',
          message: `a route Berth did not make sends ${hosts} to ${dial}, where nothing listens (${r.where})`,
          fix: `fix or remove it in ${r.where}`,
        });
    }
  }
  return out;
}

/** Pids of the holders that are nobody Berth knows (a process of a known instance is never one to kill). */
function strangers(f: Facts, holders: readonly ProcessFact[]): number[] {
  return holders.filter((p) => !markedInstance(f, p)).map((p) => p.pid);
}
