import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse } from 'yaml';
import { z } from 'zod';
import { BerthError } from '../core/errors.js';
import { alertsSchema, parseAlerts, type AlertSettings } from './host-alerts.js';
import { DEFAULT_MAX_SERVICES } from './manifest.js';
import { parseSize, SIZE_PATTERN } from './size.js';

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
  /** `berth doctor` warns when the container engine uses more disk than this (bytes). Default 10 GiB. */
  readonly containerDiskWarn: number;
  /** `alerts:`: targets and rules (see config/host-alerts); undefined sends no alerts. */
  readonly alerts?: AlertSettings | undefined;
}

/** container_disk_warn's default: 10 GiB. */
export const DEFAULT_CONTAINER_DISK_WARN = 10 * 2 ** 30;

const ALERTS_HINT =
  'alerts: { targets: [{ webhook: URL } | { slack: URL } | { email: ADDRESS, smtp: "smtp://host:port" }], rules: { crashloop, unhealthy: { after }, deploy_failed, doctor_error, certificate: { days }, backup, disk: { percent } } } (README: Alerts)';

const RANGE = /^(\d{1,5})-(\d{1,5})$/;

const settingsSchema = z.strictObject({
  port_range: z.string().regex(RANGE).optional().describe('Ports for `port: auto`, "low-high". Default "20000-29999".'),
  host: z.string().min(1).optional().describe('This host\'s name in port leases. Default "local".'),
  log_max_bytes: z
    .number()
    .int()
    .min(1024)
    .optional()
    .describe('Rotate instance logs past this size. Default 10485760.'),
  upstream_timeout: z
    .number()
    .int()
    .min(1)
    .max(3600)
    .optional()
    .describe(
      'Seconds the builtin proxy waits for an app to start answering a request (connecting included) before it answers 504. A response that has started streams as long as it takes. Default 60. Takes effect when the proxy restarts (berth proxy stop, then start).',
    ),
  log_keep: z.number().int().min(0).max(100).optional().describe('Rotated logs kept per instance. Default 5.'),
  app_path: z
    .string()
    .regex(/^\/[^:\0]*(:\/[^:\0]*)*$/, 'must be absolute directories separated by ":"')
    .optional()
    .describe(
      `PATH that builds and instances of apps get (a service's env.PATH overrides it), the same whoever started berthd. Default "${STANDARD_PATH}".`,
    ),
  http_port: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe('Port the proxy serves HTTP on. Default 80 as root, 8080 otherwise. Env BERTH_HTTP_PORT overrides.'),
  proxy: z
    .enum(['builtin', 'nginx', 'caddy'])
    .optional()
    .describe('Which proxy serves routes. Default builtin. Env BERTH_PROXY overrides.'),
  https_port: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe('HTTPS port of an edge proxy. Default 443 as root, 8443 otherwise.'),
  internal_port: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe('Loopback port of the builtin proxy behind an edge. Default 8790.'),
  cert_dir: z.string().min(1).optional().describe('certbot live directory. Default /etc/letsencrypt/live.'),
  caddy: z
    .strictObject({
      binary: z.string().min(1).optional().describe('The caddy binary. Default "caddy".'),
      admin: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Attach to a running Caddy at this admin address (e.g. "127.0.0.1:2019"). Default: run Berth\'s own Caddy.',
        ),
      acme_email: z.string().email().optional().describe("E-mail for ACME (Let's Encrypt) accounts."),
      acme_ca: z
        .string()
        .regex(/^https:\/\/[^\s/]+\/\S*$/)
        .optional()
        .describe(
          "ACME directory URL for hosts with `tls: auto`, e.g. Let's Encrypt staging or a private CA (step-ca, Caddy's acme_server). Default: Caddy's (Let's Encrypt, then ZeroSSL).",
        ),
      acme_ca_root: z
        .string()
        .regex(/^\//)
        .optional()
        .describe(
          'Absolute path of a PEM file with the root certificate of acme_ca, when a private CA signs its TLS certificate.',
        ),
    })
    .optional(),
  nginx: z
    .strictObject({
      binary: z.string().min(1).optional().describe('The nginx binary. Default "nginx".'),
      include_dir: z
        .string()
        .min(1)
        .optional()
        .describe("Attach to an existing nginx: Berth writes its files here. Default: run Berth's own nginx."),
      test_command: z
        .array(z.string().min(1))
        .min(1)
        .optional()
        .describe('With include_dir: argv that tests the config. Default ["nginx", "-t"].'),
      reload_command: z
        .array(z.string().min(1))
        .min(1)
        .optional()
        .describe('With include_dir: argv that reloads nginx. Default ["nginx", "-s", "reload"].'),
    })
    .optional(),
  releases_keep: z
    .number()
    .int()
    .min(1)
    .max(100)
    .optional()
    .describe('Releases kept per environment, the current one included. Default 5.'),
  max_services: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .describe(
      'Services one berth.yaml may declare; a manifest with more is refused before its services are validated. Default 200.',
    ),
  http_address: z.string().min(1).optional().describe('Address the proxy binds. Default "0.0.0.0".'),
  templates_dir: z
    .string()
    .regex(/^\//)
    .optional()
    .describe(
      'Directory of site templates (one subdirectory each, with a berth.yaml using {{slug}} and {{host}}), for POST /v1/orgs/{org}/sites. Env BERTH_TEMPLATES_DIR overrides.',
    ),
  sites_domain: z
    .string()
    .regex(/^[a-z0-9.-]+$/)
    .optional()
    .describe(
      'Sites from templates answer on <slug>.<sites_domain>, e.g. "sites.example.com" (a wildcard DNS record). Env BERTH_SITES_DOMAIN overrides.',
    ),
  app_users: z
    .boolean()
    .optional()
    .describe(
      "Run each app's builds and instances as its own system user (berth-<app>), with its directories closed to other apps. Default true when berthd runs as root. Env BERTH_APP_USERS=0|1 overrides.",
    ),
  outbound_allow: z
    .array(z.string().min(1).max(253))
    .optional()
    .describe(
      'Internal addresses (IPs, IPv4 CIDR ranges, host names) Berth may still call for git remotes and notifications. Default none: loopback, link-local and private targets are refused.',
    ),
  api_listen: z
    .string()
    .regex(/^(\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d{1,5}$/)
    .optional()
    .describe(
      'Serve the API over TCP too, for remote clients with tokens: "127.0.0.1:7700", or a public address with api_tls. Default: the unix socket only. Env BERTH_API_LISTEN overrides.',
    ),
  api_tls: z
    .strictObject({
      cert: z.string().regex(/^\//).describe('PEM certificate chain file.'),
      key: z.string().regex(/^\//).describe('PEM private key file.'),
    })
    .optional()
    .describe(
      'Serve api_listen over HTTPS with this certificate. Without it the API speaks plain HTTP: keep it on loopback behind an edge that terminates TLS.',
    ),
  container_engine: z
    .string()
    .regex(/^(unix:\/\/)?\/\S+$/, 'expected a unix socket: an absolute path or unix:///path')
    .optional()
    .describe(
      "The Docker Engine API socket that runs container services (Podman's `podman system service` socket works the same way): an absolute path or unix:///path. Default /var/run/docker.sock when it exists. Env BERTH_CONTAINER_ENGINE overrides.",
    ),
  container_disk_warn: z
    .union([z.number().int().min(0), z.string().regex(SIZE_PATTERN, 'expected a size like "20G" or a number of bytes')])
    .optional()
    .describe(
      '`berth doctor` warns when the container engine uses more disk than this (its images, containers, volumes and build cache): bytes, or a size like "20G". Default "10G".',
    ),
  alerts: alertsSchema,
});

export function loadHostSettings(file: string, env: NodeJS.ProcessEnv = process.env): HostSettings {
  let raw: unknown = {};
  try {
    raw = parse(readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new BerthError('invalid', 'invalid_settings', `reading ${file}: ${(err as Error).message}`);
  }
  return parseHostSettings(raw, file, env);
}

/** Validates settings already read (from config.yaml, or a change about to be written to it). */
export function parseHostSettings(raw: unknown, file: string, env: NodeJS.ProcessEnv = process.env): HostSettings {
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new BerthError(
      'invalid',
      'invalid_settings',
      `${file}: ${first?.path.join('.') || '(top)'}: ${first?.message}`,
      {
        hint:
          first?.path[0] === 'alerts'
            ? ALERTS_HINT
            : 'allowed keys: port_range, host, log_max_bytes, log_keep, app_path, http_port, https_port, http_address, proxy, internal_port, cert_dir, caddy, nginx, releases_keep, max_services, upstream_timeout, api_listen, api_tls, outbound_allow, app_users, templates_dir, sites_domain, container_engine, container_disk_warn, alerts',
      },
    );
  }
  const s = parsed.data;
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
    containerDiskWarn: parseSize(s.container_disk_warn) ?? DEFAULT_CONTAINER_DISK_WARN,
    alerts: parseAlerts(s.alerts, hostname()),
  };
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
