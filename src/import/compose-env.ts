import { ENV_KEY_PATTERN } from '../config/manifest-schema.js';
import { interpolate } from './compose-interpolate.js';
import { parseDotenv } from './dotenv.js';
import type { ServiceContext, ServiceOut } from './import-context.js';
import { readInside } from './inside-read.js';
import { at, isMapping, scalarText } from './import-warnings.js';

/** Words of a variable name that usually mean a credential (DB_PASSWORD, JWT_SECRET, API_KEY, SENTRY_DSN). */
const SECRET_WORDS = new Set([
  'PASSWORD',
  'PASSWD',
  'PASS',
  'PWD',
  'SECRET',
  'TOKEN',
  'KEY',
  'APIKEY',
  'PRIVATE',
  'CREDENTIALS',
  'DSN',
]);
/** A URL with a password in it: scheme://user:password@host. */
export const SECRET_URL = /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i;

/**
 * `env_file:` then `environment:` (which wins, as in compose) to `env:`. Env files are read
 * relative to the compose file and only inside its directory, never through a link. A value
 * that looks like a credential is kept (the service needs it) with a warning that it belongs in
 * `berth secrets`; warnings never repeat a value.
 */
export function mapEnvironment(svc: Record<string, unknown>, ctx: ServiceContext, out: ServiceOut): void {
  const env = new Map<string, { value: string; path: string }>();
  for (const file of envFiles(svc.env_file, ctx)) env.set(file.key, file);
  const p = at(ctx.path, 'environment');
  const put = (key: string, value: unknown, kp: string) => {
    const text = scalarText(value);
    if (text === undefined)
      ctx.warn.notMapped(kp, `${key} has no value (compose takes it from the shell): set it in env or berth secrets`);
    else env.set(key, { value: text, path: kp });
  };
  const environment = svc.environment;
  if (Array.isArray(environment))
    environment.forEach((item, i) => {
      const text = scalarText(item) ?? '';
      const eq = text.indexOf('=');
      put(eq < 0 ? text : text.slice(0, eq), eq < 0 ? undefined : text.slice(eq + 1), at(p, i));
    });
  else if (isMapping(environment)) for (const [k, v] of Object.entries(environment)) put(k, v, at(p, k));
  else if (environment !== undefined) ctx.warn.notMapped(p, 'expected a mapping or a list of KEY=VALUE');
  const result: Record<string, string> = {};
  for (const [key, { value, path }] of env) {
    if (!ENV_KEY_PATTERN.test(key)) ctx.warn.notMapped(path, `${JSON.stringify(key)} is not a valid variable name`);
    else if (key === 'PORT' || key === 'DATA_DIR')
      ctx.warn.notMapped(
        path,
        `Berth sets ${key} itself${key === 'PORT' ? ' (the container listens on container_port)' : ''}`,
      );
    else {
      result[key] = value;
      if (value !== '' && (secretName(key) || SECRET_URL.test(value)))
        ctx.warn.add(
          path,
          `${key} looks like a secret: kept in env, but it belongs in berth secrets (printf %s "$VALUE" | berth secrets set ${ctx.app} ${key}; then remove it from env)`,
        );
    }
  }
  if (Object.keys(result).length > 0) out.env = result;
}

interface FileValue {
  readonly key: string;
  readonly value: string;
  readonly path: string;
}

function envFiles(spec: unknown, ctx: ServiceContext): FileValue[] {
  if (spec === undefined) return [];
  const p = at(ctx.path, 'env_file');
  const list = typeof spec === 'string' ? [spec] : spec;
  if (!Array.isArray(list)) {
    ctx.warn.notMapped(p, 'expected a path or a list of paths');
    return [];
  }
  const values: FileValue[] = [];
  list.forEach((item, i) => {
    const ip = typeof spec === 'string' ? p : at(p, i);
    const file: unknown = isMapping(item) ? item.path : item;
    const required = !(isMapping(item) && item.required === false);
    if (typeof file !== 'string') return ctx.warn.notMapped(ip, 'expected a path');
    const read = readInside(ctx.dir, file);
    if (!read.ok) {
      if (!read.missing || required) ctx.warn.notMapped(ip, read.why);
      return;
    }
    const parsed = parseDotenv(read.text);
    for (const line of parsed.bad)
      ctx.warn.notMapped(ip, `${file} line ${line}: not a KEY=VALUE line (a bare KEY is taken from the shell)`);
    for (const e of parsed.entries) {
      const kp = at(ip, e.key);
      values.push({ key: e.key, value: e.literal ? e.value : interpolate(e.value, ctx.vars, kp, ctx.warn), path: kp });
    }
  });
  return values;
}

export function secretName(key: string): boolean {
  return key
    .toUpperCase()
    .split(/[_.-]+/)
    .some((w) => SECRET_WORDS.has(w));
}
