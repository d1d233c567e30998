/** One thing `berth import compose` could not map (or mapped with a change the user must know of). */
export interface ImportWarning {
  /** The compose key path, e.g. `services.web.deploy.resources` or `services.web.ports[0]`. */
  readonly path: string;
  readonly message: string;
}

/** Collects warnings in the order they are found; nothing the importer meets is dropped without one. */
export class Warnings {
  readonly #list: ImportWarning[] = [];

  add(path: string, message: string): void {
    this.#list.push({ path, message });
  }

  /** `<path>: not mapped: <why>`. */
  notMapped(path: string, why: string): void {
    this.add(path, `not mapped: ${why}`);
  }

  get list(): readonly ImportWarning[] {
    return this.#list;
  }
}

/** A key path one step deeper: `a.b` for a name, `a[0]` for an index. */
export function at(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base === '' ? key : `${base}.${key}`;
}

export function formatWarning(w: ImportWarning): string {
  return `${w.path}: ${w.message}`;
}

/** A plain mapping (not null, not a list). */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A scalar as compose reads it: strings as they are, numbers and booleans as text; undefined otherwise. */
export function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}
