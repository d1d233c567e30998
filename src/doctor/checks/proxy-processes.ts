import type { Facts } from '../facts.js';
import type { Finding } from '../finding.js';

/**
 * A second Caddy or builtin proxy of this BERTH_HOME (left over by an interrupted stop or start)
 * keeps serving an old config on the same ports, unreachable for Berth: it answers some requests
 * with stale routes, and Berth cannot change or stop it through its admin socket.
 */
export function proxyProcessChecks(f: Facts): Finding[] {
  return f.proxyLeftovers.map((p) => ({
    severity: 'error',
    code: 'proxy-leftover',
    message: `${p.what} pid ${p.pid} is a leftover of this BERTH_HOME, besides the one Berth runs: it may serve an old config (${p.command})`,
    fix: 'berth proxy stop && berth proxy start',
  }));
}
