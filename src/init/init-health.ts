import type { AppTree } from './app-tree.js';

/** The health paths init looks for, most specific first. */
const PATHS = ['/healthz', '/health', '/api/healthz', '/api/health'];
/** A quoted route path in JS/TS or Python source: "/health", '/healthz', `/api/health`, with or without a trailing "/". */
const QUOTED = /["'`](\/(?:api\/)?healthz?\/?)["'`]/g;
/** A Django URL pattern: path("health/", ...), re_path(r"^healthz/$", ...). */
const DJANGO = /\b(?:path|re_path|url)\(\s*r?["']\^?(healthz?\/?)\$?["']/g;

export interface FoundHealth {
  readonly path: string;
  readonly file: string;
}

/**
 * A health route the app's own source declares: the first of /healthz, /health, /api/healthz,
 * /api/health found as a quoted path in its source files (by extension), or a Django URL
 * pattern. Null when there is none: init never invents a path the app does not answer.
 */
export function findHealthRoute(tree: AppTree, exts: readonly string[]): FoundHealth | null {
  const found = new Map<string, string>();
  for (const file of tree.sources(exts)) {
    const text = tree.read(file);
    if (text === null) continue;
    for (const m of text.matchAll(QUOTED)) keep(found, m[1] as string, file);
    if (file.endsWith('.py')) for (const m of text.matchAll(DJANGO)) keep(found, `/${m[1] as string}`, file);
  }
  for (const p of PATHS) {
    const exact = found.get(p) ?? found.get(`${p}/`);
    if (exact !== undefined) return { path: found.has(p) ? p : `${p}/`, file: exact };
  }
  return null;
}

function keep(found: Map<string, string>, p: string, file: string): void {
  if (!found.has(p)) found.set(p, file);
}

/** Whether any of the source files mentions `needle` (e.g. "process.env.PORT"). */
export function sourcesMention(tree: AppTree, exts: readonly string[], needle: RegExp): boolean {
  return tree.sources(exts).some((f) => needle.test(tree.read(f) ?? ''));
}
