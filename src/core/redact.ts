/**
 * Replaces secret values in text Berth shows: an app's logs and build logs, errors that quote
 * them, events, API answers, berthd's own log. A redactor holds the values of some apps (an
 * app's own, or those a caller may see), never every organisation's: another tenant's secret
 * must not blank words out of what others see. Secrets have at least 6 characters (shorter
 * ones are refused when set); shorter values kept from before are not hidden (they would blank
 * out ordinary words).
 */
export const SECRET_MIN_LENGTH = 6;

/**
 * Keys whose values are Berth's own identifiers and states (validated names, enums, numbers),
 * never text an app produced: a secret that happens to equal "healthy" or an app name leaves them alone.
 */
const STRUCTURAL = new Set([
  'app',
  'apps',
  'env',
  'environment',
  'service',
  'services',
  'kind',
  'status',
  'state',
  'desired',
  'name',
  'code',
  'severity',
  'org',
  'role',
  'release',
  'hostname',
  'host',
  'path',
  'slug',
  'from',
  'to',
  'strategy',
  'tls',
  'actor',
  'action',
  'outcome',
  'createdBy',
]);

export class Redactor {
  #values: string[] = [];
  #pattern: RegExp | undefined;

  set(values: Iterable<string>): void {
    // A multi-line value (a key in PEM) is also hidden line by line, as logs show it.
    const all = [...values].flatMap((v) => [v, ...(v.includes('\n') ? v.split(/\r?\n/).map((l) => l.trim()) : [])]);
    this.#values = [...new Set(all.filter((v) => v.length >= SECRET_MIN_LENGTH))].sort((a, b) => b.length - a.length);
    this.#pattern = this.#values.length
      ? new RegExp(this.#values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
      : undefined;
  }

  get empty(): boolean {
    return this.#pattern === undefined;
  }

  redact(text: string): string {
    return this.#pattern ? text.replace(this.#pattern, '[redacted]') : text;
  }

  /** Strings anywhere in a JSON-like value but under structural keys (names, states). */
  redactDeep<T>(value: T): T {
    return redactTree(value, () => this, this);
  }
}

const NONE = new Redactor();

/**
 * Redacts a JSON-like value record by record: inside an object with an `app`, free text is
 * redacted with that app's secrets (`forApp`); outside any, with `outside`'s. Values under
 * structural keys, numbers and keys are never touched.
 */
export function redactTree<T>(value: T, forApp: (app: string) => Redactor, outside: Redactor = NONE): T {
  return walk(value, forApp, outside);
}

function walk<T>(value: T, forApp: (app: string) => Redactor, r: Redactor): T {
  if (typeof value === 'string') return r.redact(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => walk(v, forApp, r)) as T;
  if (value instanceof Error) return Object.assign(new Error(r.redact(value.message)), { name: value.name }) as T;
  if (!value || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const app = (value as Record<string, unknown>).app;
  const own = typeof app === 'string' ? forApp(app) : r;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, STRUCTURAL.has(k) ? v : walk(v, forApp, own)]),
  ) as T;
}
