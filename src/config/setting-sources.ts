import type { HostSettings } from './host-settings.js';
import { parseHostSettings } from './settings-schema.js';
import { redactStoreUrl } from '../store/store-url.js';

/** One host setting as berthd uses it, and where that value comes from. */
export interface EffectiveSetting {
  readonly key: string;
  /** null: unset, and nothing is used (e.g. api_listen: the unix socket only). */
  readonly value: unknown;
  /** `env BERTH_PROXY`, `config.yaml`, or `default`. */
  readonly source: string;
}

type Getter = (s: HostSettings) => unknown;

/** Every key of config.yaml, the variable that overrides it, and its value in the parsed settings. */
const KEYS: ReadonlyArray<readonly [string, string | undefined, Getter]> = [
  ['proxy', 'BERTH_PROXY', (s) => s.proxy],
  ['http_port', 'BERTH_HTTP_PORT', (s) => s.httpPort],
  ['https_port', 'BERTH_HTTPS_PORT', (s) => s.httpsPort],
  ['internal_port', 'BERTH_INTERNAL_PORT', (s) => s.internalPort],
  ['http_address', 'BERTH_HTTP_ADDRESS', (s) => s.httpAddress],
  ['port_range', 'BERTH_PORT_RANGE', (s) => `${s.portRange.low}-${s.portRange.high}`],
  ['host', undefined, (s) => s.host],
  ['cert_dir', 'BERTH_CERT_DIR', (s) => s.certDir],
  ['caddy', undefined, (s) => s.caddy],
  ['nginx', undefined, (s) => ({ binary: s.nginx.binary, ...(s.nginx.attach ? { attach: s.nginx.attach } : {}) })],
  ['releases_keep', undefined, (s) => s.releasesKeep],
  ['log_max_bytes', undefined, (s) => s.logMaxBytes],
  ['log_keep', undefined, (s) => s.logKeep],
  ['upstream_timeout', undefined, (s) => s.upstreamTimeoutMs / 1000],
  ['api_listen', 'BERTH_API_LISTEN', (s) => s.apiListen ?? null],
  ['api_tls', undefined, (s) => s.apiTls ?? null],
  ['outbound_allow', undefined, (s) => s.outboundAllow],
  ['app_users', 'BERTH_APP_USERS', (s) => s.appUsers],
  ['templates_dir', 'BERTH_TEMPLATES_DIR', (s) => s.templatesDir ?? null],
  ['sites_domain', 'BERTH_SITES_DOMAIN', (s) => s.sitesDomain ?? null],
  ['container_disk_warn', undefined, (s) => s.containerDiskWarn],
  ['store', 'BERTH_STORE_URL', (s) => (s.store ? redactStoreUrl(s.store) : 'sqlite')],
];

/** The environment variables that override settings (BERTH_PROXY, ...). */
export const SETTING_VARIABLES: readonly string[] = KEYS.flatMap(([, variable]) => (variable ? [variable] : []));

/**
 * The settings in effect for berthd: each key's value after its environment variable, then
 * config.yaml (`raw`), then the default, and which of the three it came from.
 */
export function effectiveSettings(
  raw: Record<string, unknown>,
  file: string,
  env: NodeJS.ProcessEnv,
): EffectiveSetting[] {
  const settings = parseHostSettings(raw, file, env);
  return KEYS.map(([key, variable, get]) => ({
    key,
    value: get(settings),
    source: variable && env[variable] ? `env ${variable}` : key in raw ? 'config.yaml' : 'default',
  }));
}
