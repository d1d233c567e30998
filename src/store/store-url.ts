import { BerthError } from '../core/errors.js';

/**
 * Where the control plane's state lives: the SQLite file in BERTH_HOME (one host), or a PostgreSQL
 * database that several berthd share (one of them leads: daemon/leadership.ts).
 */
export type StoreLocation =
  { readonly kind: 'sqlite'; readonly file: string } | { readonly kind: 'postgres'; readonly url: string };

/** The URL with its password replaced by "***": what logs, errors and `berth daemon status` show. */
export function redactStoreUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unreadable URL)';
  }
}

/**
 * The `store:` setting (or BERTH_STORE_URL): "postgres://user:password@host:port/database", or
 * "postgresql://..."; undefined keeps the SQLite file. An error names `where`, never the password.
 */
export function parseStoreUrl(value: string | undefined, where: string): string | undefined {
  if (value === undefined || value === '' || value === 'sqlite') return undefined;
  let u: URL | undefined;
  try {
    u = new URL(value);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') || !u.hostname || u.pathname.length < 2)
    throw new BerthError(
      'invalid',
      'invalid_settings',
      `${where}: expected "sqlite" or a PostgreSQL URL postgres://user:password@host:port/database, got ${u ? JSON.stringify(redactStoreUrl(value)) : 'something that is not a URL'}`,
      { hint: 'e.g. store: postgres://berth:PASSWORD@10.0.0.5:5432/berth (a database of its own, made beforehand)' },
    );
  return value;
}
