/**
 * Replaces secret values wherever Berth prints text: API responses and errors, events,
 * build logs, logs served by `berth logs`, berthd's own log. One process-wide instance,
 * kept current by the secrets service; values shorter than 6 characters are not secrets
 * worth hiding (they would blank out ordinary words).
 */
const MIN_LENGTH = 6;

export class Redactor {
  #values: string[] = [];
  #pattern: RegExp | undefined;

  set(values: Iterable<string>): void {
    // A multi-line value (a key in PEM) is also hidden line by line, as logs show it.
    const all = [...values].flatMap((v) => [v, ...(v.includes('\n') ? v.split(/\r?\n/).map((l) => l.trim()) : [])]);
    this.#values = [...new Set(all.filter((v) => v.length >= MIN_LENGTH))].sort((a, b) => b.length - a.length);
    this.#pattern = this.#values.length
      ? new RegExp(this.#values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
      : undefined;
  }

  redact(text: string): string {
    return this.#pattern ? text.replace(this.#pattern, '[redacted]') : text;
  }

  /** Strings anywhere in a JSON-like value. */
  redactDeep<T>(value: T): T {
    if (!this.#pattern) return value;
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) return (value as unknown[]).map((v) => this.redactDeep(v)) as T;
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactDeep(v)])) as T;
    if (value instanceof Error) return Object.assign(new Error(this.redact(value.message)), { name: value.name }) as T;
    return value;
  }
}

export const redactor = new Redactor();
