import type { ServiceContext, ServiceOut } from './import-context.js';
import { at, isMapping, scalarText } from './import-warnings.js';

/** Ports that the official images of common data stores listen on, when a compose file names none. */
const WELL_KNOWN: Readonly<Record<string, number>> = {
  postgres: 5432,
  redis: 6379,
  valkey: 6379,
  mysql: 3306,
  mariadb: 3306,
  mongo: 27017,
  memcached: 11211,
  rabbitmq: 5672,
};

interface PortEntry {
  readonly container: string;
  readonly host?: string;
  readonly protocol: string;
}

/** What `ports:` told of a service: reached from outside its compose network, and at which host port. */
export interface Published {
  /** The host port of the entry used (a number, or a range or nothing: compose picks one), if any. */
  readonly host: string | undefined;
  /** The image is a well-known data store (postgres, redis...): not HTTP, so not routed. */
  readonly dataStore: boolean;
}

/**
 * `ports:` (and `expose:`) to `container_port`: where the service listens inside its container.
 * Berth publishes that one port on 127.0.0.1 only, at a port it leases, so a host port is not
 * kept (said in a warning) and further ports are not mapped. Without any, a well-known data
 * store image gives its port (with a warning), else the service becomes `port: none`. Returns
 * what `ports:` published (compose-publish routes it), undefined when it published nothing.
 */
export function mapPorts(svc: Record<string, unknown>, ctx: ServiceContext, out: ServiceOut): Published | undefined {
  const image = typeof svc.image === 'string' && svc.build === undefined ? svc.image : undefined;
  const known = image === undefined ? undefined : WELL_KNOWN[imageBase(image)];
  const published = pick(svc, 'ports', ctx);
  const chosen = published?.port ?? pick(svc, 'expose', ctx)?.port;
  if (chosen !== undefined) {
    out.container_port = chosen;
    return published && { host: published.host, dataStore: known !== undefined };
  }
  if (known !== undefined) {
    out.container_port = known;
    ctx.warn.add(
      ctx.path,
      `no ports or expose: container_port ${known} is the port ${image} listens on by default; check it`,
    );
    return undefined;
  }
  out.port = 'none';
  ctx.warn.add(
    ctx.path,
    'no ports or expose: mapped as `port: none` (ready once it runs); if it listens, set container_port to its port',
  );
  return undefined;
}

/** The container port (and host port) of the first usable entry of `key`, warning about every other entry. */
function pick(
  svc: Record<string, unknown>,
  key: 'ports' | 'expose',
  ctx: ServiceContext,
): { port: number; host: string | undefined } | undefined {
  const list = svc[key];
  if (list === undefined) return undefined;
  const p = at(ctx.path, key);
  if (!Array.isArray(list)) {
    ctx.warn.notMapped(p, 'expected a list');
    return undefined;
  }
  let chosen: number | undefined;
  let host: string | undefined;
  list.forEach((item, i) => {
    const ip = at(p, i);
    const entry = parseEntry(item);
    if (entry === undefined) return ctx.warn.notMapped(ip, 'not a port Berth understands');
    if (entry.protocol !== 'tcp') return ctx.warn.notMapped(ip, `${entry.protocol}: Berth publishes TCP only`);
    const port = /^\d+$/.test(entry.container) ? Number(entry.container) : undefined;
    if (port === undefined || port < 1 || port > 65535)
      return ctx.warn.notMapped(ip, `container port ${entry.container}: Berth publishes one port, not a range`);
    if (chosen !== undefined && chosen !== port)
      return ctx.warn.notMapped(ip, `Berth publishes one port per service (container_port ${chosen})`);
    if (chosen === undefined) host = entry.host;
    chosen = port;
    if (entry.host)
      ctx.warn.add(
        ip,
        `host port ${entry.host} is not kept: Berth publishes container port ${port} on 127.0.0.1 only, at a port it leases`,
      );
  });
  return chosen === undefined ? undefined : { port: chosen, host };
}

function parseEntry(item: unknown): PortEntry | undefined {
  if (isMapping(item)) {
    const container = scalarText(item.target);
    if (container === undefined) return undefined;
    const published = scalarText(item.published);
    return { container, protocol: scalarText(item.protocol) ?? 'tcp', ...(published ? { host: published } : {}) };
  }
  const text = scalarText(item);
  if (text === undefined) return undefined;
  const [spec = '', protocol = 'tcp'] = text.split('/');
  // [ip:][host:]container, where ip may be [v6] in brackets.
  const m = /^(?:(?:\[[^\]]*\]|[^:]*):)??(?:([^:]*):)?([^:]+)$/.exec(spec);
  if (!m) return undefined;
  const host = m[1];
  return { container: m[2] as string, protocol, ...(host ? { host } : {}) };
}

/** An official image's name ("postgres:15-alpine", "docker.io/library/redis" -> "postgres", "redis"); "" for others. */
function imageBase(image: string): string {
  const name = (image.split('@')[0] as string).replace(/^(?:docker\.io\/)?library\//, '').split(':')[0] as string;
  return name.includes('/') ? '' : name;
}
