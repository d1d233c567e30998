import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pino from 'pino';
import type { HostSettings } from '../config/host-settings.js';
import { BuiltinProxy } from '../proxy/builtin/builtin-proxy.js';
import type { Edge } from '../proxy/edge/edge-proxy.js';
import type { ContainerNetworks } from '../runtime/container-networks.js';
import type { Proxy } from '../proxy/proxy.js';

/**
 * When the settings name another proxy than last time, stop the edge that served until
 * now (it holds the HTTP port); the new proxy then gets every route at start.
 */
export async function retirePreviousProxy(home: string, settings: HostSettings, log: pino.Logger): Promise<void> {
  const marker = path.join(home, 'proxy', 'kind');
  let previous = 'builtin';
  try {
    previous = readFileSync(marker, 'utf8').trim();
  } catch {
    // first start
  }
  if (previous !== settings.proxy) {
    log.info({ from: previous, to: settings.proxy }, 'proxy changed: stopping the previous one');
    if (previous === 'nginx' || previous === 'caddy')
      await (await makeEdge(previous, home, settings, log)).stop().catch(() => undefined);
  }
  mkdirSync(path.dirname(marker), { recursive: true, mode: 0o700 });
  writeFileSync(marker, settings.proxy + '\n');
}

/**
 * The proxy the settings ask for: the builtin one alone, or behind an edge server. An edge's
 * modules (Caddy's admin client, TLS probes) are loaded only when one is asked for.
 */
export async function makeProxy(home: string, settings: HostSettings, log: pino.Logger): Promise<Proxy> {
  const upstreamTimeoutMs = settings.upstreamTimeoutMs;
  if (settings.proxy === 'builtin')
    return new BuiltinProxy({ home, port: settings.httpPort, address: settings.httpAddress, log, upstreamTimeoutMs });
  const { EdgeProxy } = await import('../proxy/edge/edge-proxy.js');
  const inner = new BuiltinProxy({ home, port: settings.internalPort, address: '127.0.0.1', log, upstreamTimeoutMs });
  const edge = await makeEdge(settings.proxy, home, settings, log);
  return new EdgeProxy(inner, edge);
}

/**
 * The proxy's processes (a keeper, then the proxy: two Node starts) are the longest part of berthd's start: they
 * start first (the previous berthd's proxy retired) and come up while berthd opens its store, recovers and builds its
 * API; the API answers once routes are served (`started`). They need no store: a proxy serves the table it last had
 * until berthd pushes one.
 */
export async function startProxy(
  home: string,
  settings: HostSettings,
  log: pino.Logger,
): Promise<{ proxy: Proxy; started: Promise<void> }> {
  await retirePreviousProxy(home, settings, log);
  const proxy = await makeProxy(home, settings, log);
  const started = proxy
    .watch()
    .catch((err) =>
      log.error(
        { err: err instanceof Error ? err.message : String(err) },
        'the proxy does not start; berthd serves on without it (see berth proxy status)',
      ),
    );
  return { proxy, started };
}

/**
 * The container networks' gateways, read from the engine (up to 3 s) before the first route table: else the proxy
 * would drop the containers' gateway listeners until each container starts again.
 */
export async function gatewaysKnown(networks: ContainerNetworks | undefined, log: pino.Logger): Promise<void> {
  await networks
    ?.refreshWithin(3000)
    .then((problems) => problems.forEach((problem) => log.warn({ problem }, 'container network gateway missing')))
    .catch((err: unknown) =>
      log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'container networks not read from the engine',
      ),
    );
}

/** Ports the kernel hands to outgoing connections can be taken by them at any moment. */
export function warnIfEphemeral(range: { low: number; high: number }, log: pino.Logger): void {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number) as [number, number];
    if (range.low <= high && range.high >= low)
      log.warn(
        { range, ephemeral: [low, high] },
        "port_range overlaps the kernel's ephemeral ports: outgoing connections may take a leased port; choose a range below it",
      );
  } catch {
    // not Linux, or unreadable
  }
}

/** An edge server (Caddy or nginx) in front of the builtin proxy; its modules load only when one runs or ran. */
async function makeEdge(
  kind: 'caddy' | 'nginx',
  home: string,
  settings: HostSettings,
  log: pino.Logger,
): Promise<Edge> {
  const ports = { httpPort: settings.httpPort, httpsPort: settings.httpsPort, upstreamPort: settings.internalPort };
  if (kind === 'caddy') {
    const { CaddyEdge } = await import('../proxy/caddy/caddy-edge.js');
    const { binary, admin, acmeEmail, acmeCa, acmeCaRoot } = settings.caddy;
    return new CaddyEdge({ home, log, binary, admin, acmeEmail, acmeCa, acmeCaRoot, ...ports });
  }
  const { NginxEdge } = await import('../proxy/nginx/nginx-edge.js');
  const { binary, attach } = settings.nginx;
  return new NginxEdge({ home, log, binary, certDir: settings.certDir, attach, ...ports });
}
