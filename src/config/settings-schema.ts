import { parse } from 'yaml';
import { z } from 'zod';
import { hostname } from 'node:os';
import { BerthError } from '../core/errors.js';
import { alertsSchema, parseAlerts } from './host-alerts.js';
import { RANGE, resolveHostSettings, STANDARD_PATH, type HostSettings } from './host-settings.js';
import { SIZE_PATTERN } from './size.js';

/*
 * config.yaml's schema: what each key may hold (each description is its documentation). berthd loads it only when
 * there is a config.yaml to read or a setting to change (config/host-settings).
 */

const ALERTS_HINT =
  'alerts: { targets: [{ webhook: URL } | { slack: URL } | { email: ADDRESS, smtp: "smtp://host:port" }], rules: { crashloop, unhealthy: { after }, deploy_failed, doctor_error, certificate: { days }, backup, disk: { percent } } } (README: Alerts)';

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
  scheduler: z
    .enum(['host', 'swarm'])
    .optional()
    .describe(
      'Where container services (image: or build:) run: "host" (this machine, the default) or "swarm" (the Docker Swarm whose manager is container_engine: one Swarm service per routed release, routed by this host\'s edge). Env BERTH_SCHEDULER overrides.',
    ),
  swarm_registry: z
    .strictObject({
      address: z
        .string()
        .regex(
          /^[A-Za-z0-9.-]+(:\d{1,5})?$/,
          'expected a registry address like "10.0.0.2:5000" or "registry.example.com"',
        ),
      username: z.string().min(1).optional(),
      password_file: z.string().regex(/^\//, 'expected an absolute path').optional(),
    })
    .optional()
    .describe(
      "With scheduler: swarm: the registry the swarm's nodes pull from, where berth pushes the images it builds (build:) as <address>/berth-<home>-<app>-<env>:<release>; the release records their digest. The password is read from password_file (keep it root's, mode 600). Default none: build: services are refused on a swarm.",
    ),
  container_disk_warn: z
    .union([z.number().int().min(0), z.string().regex(SIZE_PATTERN, 'expected a size like "20G" or a number of bytes')])
    .optional()
    .describe(
      '`berth doctor` warns when the container engine uses more disk than this (its images, containers, volumes and build cache): bytes, or a size like "20G". Default "10G".',
    ),
  store: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Where the control plane keeps its state: "sqlite" (the file in BERTH_HOME) or a PostgreSQL URL postgres://user:password@host:port/database that several berthd share (one leads, the others answer reads and take over when it stops). Default "sqlite". Env BERTH_STORE_URL overrides. Takes effect when berthd restarts.',
    ),
  alerts: alertsSchema,
});

/** config.yaml's keys as the schema accepts them. */
export type SettingsInput = z.infer<typeof settingsSchema>;

/** config.yaml's text, read as YAML and validated (an empty file has no keys). */
export function parseHostSettingsText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): HostSettings {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (err) {
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
            : 'allowed keys: port_range, host, log_max_bytes, log_keep, app_path, http_port, https_port, http_address, proxy, internal_port, cert_dir, caddy, nginx, releases_keep, max_services, upstream_timeout, api_listen, api_tls, outbound_allow, app_users, templates_dir, sites_domain, container_engine, scheduler, swarm_registry, container_disk_warn, store, alerts',
      },
    );
  }
  return { ...resolveHostSettings(parsed.data, file, env), alerts: parseAlerts(parsed.data.alerts, hostname()) };
}
