import { semanticProblems } from './manifest-checks.js';
import type { Problem } from './manifest-errors.js';
import { manifestSchema } from './manifest-schema.js';
import { zodProblems } from './zod-problems.js';

/**
 * Every problem of a manifest at once: the schema's, and also the checks across services that
 * need a manifest of the right shape. When some parts have the wrong shape, those checks run on
 * the rest: an invalid service stands in as a plain one (its name still known, so references to
 * it hold), an invalid optional key is left out, and nothing is reported about either twice.
 */
export function manifestProblems(input: object): Problem[] {
  const parsed = manifestSchema.safeParse(input);
  if (parsed.success) return semanticProblems(parsed.data);
  const shape = zodProblems(parsed.error.issues, input);
  const broken = new Set(parsed.error.issues.map((i) => i.path.slice(0, 2).join('\0')));
  const brokenKeys = new Set(parsed.error.issues.map((i) => String(i.path[0] ?? '')));
  if (brokenKeys.has('') || broken.has('services')) return shape; // no shape to check the rest against
  const rest: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const key of brokenKeys) if (key !== 'services' && key !== 'app') delete rest[key];
  if (brokenKeys.has('app')) rest.app = 'app';
  const services = rest.services;
  if (services && typeof services === 'object' && !Array.isArray(services))
    rest.services = Object.fromEntries(
      Object.entries(services).map(([name, svc]) => [name, broken.has(`services\0${name}`) ? { run: 'true' } : svc]),
    );
  const stand = manifestSchema.safeParse(rest);
  if (!stand.success) return shape;
  const stoodIn = (p: Problem) =>
    p.path[0] === 'services' ? broken.has(`services\0${String(p.path[1])}`) : brokenKeys.has(String(p.path[0]));
  return [...shape, ...semanticProblems(stand.data).filter((p) => !stoodIn(p))];
}
