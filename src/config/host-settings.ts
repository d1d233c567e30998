import { readFileSync } from 'node:fs';
import { BerthError } from '../core/errors.js';
import type { AlertSettings } from './host-alerts.js';
import { DEFAULT_MAX_SERVICES } from './manifest-basics.js';
import type { SettingsInput } from './settings-schema.js';
import { parseSize } from './size.js';
import { parseStoreUrl } from '../store/store-url.js';

/** The system's standard PATH: what builds and instances get unless `app_path` says otherwise. */
export const STANDARD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Host-wide settings from `$BERTH_HOME/config.yaml`; environment variables override them. */
export interface HostSettings {
  /** Ports leased to `port: auto` services. Default 20000-29999; env BERTH_PORT_RANGE. */
  readonly portRange: { readonly low: number; readonly high: number };
  /** Name of this host in port leases. Default "local". */
  readonly host: string;
  /** Rotate an instance log past this size. Default 10 MiB. */
  readonly logMaxBytes: number;
  /** Rotated logs kept per instance. Default 5. */
  readonly logKeep: number;
  /**
   * PATH of every build, hook and instance (a manifest's `env.PATH` overrides it). Default the
   * system's standard PATH; never the PATH of whoever started berthd.
   */
  readonly appPath: string;
  /** Where the proxy serves HTTP. Default 80 for root, 8080 otherwise; env BERTH_HTTP_PORT. */
  readonly httpPort: number;
  /** Which proxy serves the routes: builtin (default), or nginx in front of it. Env BERTH_PROXY. */
  readonly proxy: 'builtin' | 'nginx' | 'caddy';
  /** Where an edge serves HTTPS. Default 443 as root, 8443 otherwise; env BERTH_HTTPS_PORT. */
  readonly httpsPort: number;
  /** With an edge: the loopback port of the builtin proxy behind it. Default 8790; env BERTH_INTERNAL_PORT. */
  readonly internalPort: number;
  /** certbot's live directory: <dir>/<host>/fullchain.pem, privkey.pem. Default /etc/letsencrypt/live; env BERTH_CERT_DIR. */
  readonly certDir: string;
  readonly caddy: {
    readonly binary: string;
    readonly admin?: string | undefined;
    readonly acmeEmail?: string | undefined;
    readonly acmeCa?: string | undefined;
    readonly acmeCaRoot?: string | undefined;
  };
  readonly nginx: {
    readonly binary: string;
    readonly attach?: { includeDir: string; test: string[]; reload: string[] } | undefined;
  };
  /** Releases kept per environment (the current one included). Default 5. */
  readonly releasesKeep: number;
  /**
   * Services one berth.yaml may declare; a manifest with more is refused before its services
   * are validated (it bounds what berthd parses for anyone who may deploy). Default 200.
   */
  readonly maxServices: number;
  /** Address the proxy binds. Default "0.0.0.0"; env BERTH_HTTP_ADDRESS. */
  readonly httpAddress: string;
  /** How long the builtin proxy waits for an upstream's response head (connecting included) before answering 504. Default 60 s. */
  readonly upstreamTimeoutMs: number;
  readonly templatesDir?: string | undefined;
  readonly sitesDomain?: string | undefined;
  /** One system user per app (root only). */
  readonly appUsers: boolean;
  /** Internal targets Berth may call anyway (git remotes, notifications). */
  readonly outboundAllow: readonly string[];
  /** "host:port" to serve the API on over TCP, besides the unix socket. */
  readonly apiListen?: string | undefined;
  readonly apiTls?: { readonly cert: string; readonly key: string } | undefined;
  /**
   * The container engine's socket (Docker, or Podman's Docker-compatible service), a path or
   * `unix://` URL. Default /var/run/docker.sock when it exists; env BERTH_CONTAINER_ENGINE.
   */
  readonly containerEngine?: string | undefined;
  /** Where container services run: 'host' (this machine) or 'swarm' (the swarm of containerEngine's engine). */
  readonly scheduler: 'host' | 'swarm';
  /** The registry a swarm's nodes pull Berth's builds from (swarm_registry); none: builds are refused on a swarm. */
  readonly swarmRegistry?: { readonly address: string; readonly username?: string; readonly passwordFile?: string };
  /** `berth doctor` warns when the container engine uses more disk than this (bytes). Default 10 GiB. */
  readonly containerDiskWarn: number;
  /**
   * The PostgreSQL URL of a store several berthd share (see store/store-url.ts); undefined keeps
   * the SQLite file in BERTH_HOME (the default). Env BERTH_STORE_URL. Never printed with its password.
   */
  readonly store?: string | undefined;
  /** `alerts:`: targets and rules (see config/host-alerts); undefined sends no alerts. */
  readonly alerts?: AlertSettings | undefined;
}

/** container_disk_warn's default: 10 GiB. */
export const DEFAULT_CONTAINER_DISK_WARN = 10 * 2 ** 30;

/** port_range and BERTH_PORT_RANGE: "low-high". */
export const RANGE = /^(\d{1,5})-(\d{1,5})$/;

/**
 * The host's settings: config.yaml, validated (its schema, zod and yaml, load only when the file exists: a host
 * without one starts berthd without them, issue 14), then the environment's overrides and the defaults.
 */
export async function loadHostSettings(file: string, env: NodeJS.ProcessEnv = process.env): Promise<HostSettings> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new BerthError('invalid', 'invalid_settings', `reading ${file}: ${(err as Error).message}`);
    return resolveHostSettings({}, file, env);
  }
  const { parseHostSettingsText } = await import('./settings-schema.js');
  return parseHostSettingsText(text, file, env);
}

/** Settings already validated (config.yaml's keys, none when there is no file), with the environment's overrides and the defaults. */
export function resolveHostSettings(s: SettingsInput, file: string, env: NodeJS.ProcessEnv): HostSettings {
  return {
    portRange: parseRange(
      env.BERTH_PORT_RANGE ?? s.port_range ?? '20000-29999',
      env.BERTH_PORT_RANGE ? 'BERTH_PORT_RANGE' : `${file}: port_range`,
    ),
    host: s.host ?? 'local',
    logMaxBytes: s.log_max_bytes ?? 10 * 1024 * 1024,
    logKeep: s.log_keep ?? 5,
    appPath: s.app_path ?? STANDARD_PATH,
    httpPort: env.BERTH_HTTP_PORT
      ? parsePort(env.BERTH_HTTP_PORT)
      : (s.http_port ?? (process.getuid?.() === 0 ? 80 : 8080)),
    releasesKeep: s.releases_keep ?? 5,
    maxServices: s.max_services ?? DEFAULT_MAX_SERVICES,
    proxy: proxyKind(env.BERTH_PROXY ?? s.proxy ?? 'builtin'),
    httpsPort: env.BERTH_HTTPS_PORT
      ? parsePort(env.BERTH_HTTPS_PORT)
      : (s.https_port ?? (process.getuid?.() === 0 ? 443 : 8443)),
    internalPort: env.BERTH_INTERNAL_PORT ? parsePort(env.BERTH_INTERNAL_PORT) : (s.internal_port ?? 8790),
    certDir: env.BERTH_CERT_DIR || s.cert_dir || '/etc/letsencrypt/live',
    caddy: {
      binary: s.caddy?.binary ?? 'caddy',
      admin: s.caddy?.admin,
      acmeEmail: s.caddy?.acme_email,
      acmeCa: s.caddy?.acme_ca,
      acmeCaRoot: s.caddy?.acme_ca_root,
    },
    nginx: {
      binary: s.nginx?.binary ?? 'nginx',
      attach: s.nginx?.include_dir
        ? {
            includeDir: s.nginx.include_dir,
            test: s.nginx.test_command ?? ['nginx', '-t'],
            reload: s.nginx.reload_command ?? ['nginx', '-s', 'reload'],
          }
        : undefined,
    },
    httpAddress: env.BERTH_HTTP_ADDRESS || s.http_address || '0.0.0.0',
    upstreamTimeoutMs: (s.upstream_timeout ?? 60) * 1000,
    apiListen: env.BERTH_API_LISTEN || s.api_listen,
    outboundAllow: s.outbound_allow ?? [],
    templatesDir: env.BERTH_TEMPLATES_DIR || s.templates_dir,
    sitesDomain: env.BERTH_SITES_DOMAIN || s.sites_domain,
    appUsers:
      env.BERTH_APP_USERS !== undefined && env.BERTH_APP_USERS !== ''
        ? env.BERTH_APP_USERS === '1'
        : (s.app_users ?? process.getuid?.() === 0),
    apiTls: s.api_tls,
    containerEngine: env.BERTH_CONTAINER_ENGINE || s.container_engine,
    scheduler: schedulerKind(env.BERTH_SCHEDULER || s.scheduler || 'host'),
    ...(s.swarm_registry
      ? {
          swarmRegistry: {
            address: s.swarm_registry.address,
            ...(s.swarm_registry.username ? { username: s.swarm_registry.username } : {}),
            ...(s.swarm_registry.password_file ? { passwordFile: s.swarm_registry.password_file } : {}),
          },
        }
      : {}),
    containerDiskWarn: parseSize(s.container_disk_warn) ?? DEFAULT_CONTAINER_DISK_WARN,
    store: parseStoreUrl(env.BERTH_STORE_URL || s.store, env.BERTH_STORE_URL ? 'BERTH_STORE_URL' : `${file}: store`),
  };
}

function schedulerKind(value: string): 'host' | 'swarm' {
  if (value === 'host' || value === 'swarm') return value;
  throw new BerthError(
    'invalid',
    'invalid_settings',
    `scheduler: expected "host" or "swarm", got ${JSON.stringify(value)}`,
    {
      hint: 'set scheduler in config.yaml or BERTH_SCHEDULER: swarm deploys container services to the swarm of container_engine',
    },
  );
}

function proxyKind(value: string): 'builtin' | 'nginx' | 'caddy' {
  if (value === 'builtin' || value === 'nginx' || value === 'caddy') return value;
  throw new BerthError(
    'invalid',
    'invalid_settings',
    `proxy: expected "builtin", "caddy" or "nginx", got ${JSON.stringify(value)}`,
    { hint: 'set proxy in config.yaml or BERTH_PROXY' },
  );
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new BerthError(
      'invalid',
      'invalid_settings',
      `BERTH_HTTP_PORT: expected a port number, got ${JSON.stringify(value)}`,
    );
  return n;
}

function parseRange(value: string, where: string): { low: number; high: number } {
  const m = RANGE.exec(value);
  const low = Number(m?.[1]);
  const high = Number(m?.[2]);
  if (!m || low < 1024 || high > 65535 || low > high) {
    throw new BerthError(
      'invalid',
      'invalid_settings',
      `${where}: expected a port range "low-high" within 1024-65535, got ${JSON.stringify(value)}`,
      { hint: 'e.g. 20000-29999' },
    );
  }
  return { low, high };
}
