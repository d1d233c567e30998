import { NAME_MAX, nameProblem } from '../core/names.js';

/**
 * A valid Berth name (core/names.ts: a DNS label) made from a compose name: lowercased, every
 * run of other characters turned into one "-", trimmed, cut to 63; `-2`, `-3`... when taken.
 */
export function proposeName(raw: string, taken: ReadonlySet<string>, fallback = 'service'): string {
  let base = raw
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, NAME_MAX)
    .replace(/-+$/, '');
  if (base === '') base = fallback;
  let name = base;
  for (let n = 2; taken.has(name); n++) {
    const suffix = `-${n}`;
    name = base.slice(0, NAME_MAX - suffix.length).replace(/-+$/, '') + suffix;
  }
  return name;
}

/** The name kept as it is when valid and free; otherwise a proposal and why the original was refused. */
export function berthName(
  raw: string,
  taken: ReadonlySet<string>,
  fallback?: string,
): { name: string; problem?: string } {
  const problem = nameProblem(raw);
  if (problem === undefined && !taken.has(raw)) return { name: raw };
  return { name: proposeName(raw, taken, fallback), problem: problem ?? 'is taken by another name already' };
}
