import { closest } from '../core/did-you-mean.js';
import { expandHost, HOST_PLACEHOLDERS } from '../core/environments.js';
import type { Problem } from './manifest-errors.js';
import { HOST_PATTERN, type ManifestInput } from './manifest-schema.js';
import { normalizeRoute } from './manifest-normalize.js';

/** Variables Berth sets itself: no `env:` may name them. */
export const RESERVED_ENV = ['PORT', 'DATA_DIR'];

/** Environments: branches, data sources, env keys, and hostname templates that keep every environment's hosts apart. */
export function environmentProblems(m: ManifestInput): Problem[] {
  const problems: Problem[] = [];
  const envs = Object.entries(m.environments ?? {});
  const routes = Object.entries(m.services).flatMap(([service, s]) =>
    (s.routes ?? []).map((r) => ({ service, host: normalizeRoute(r).host })),
  );
  const exact = new Map<string, string>();
  let asWritten: string | undefined;
  for (const [name, e] of envs) {
    const at = ['environments', name];
    const pattern = e.branch.includes('*');
    if (!pattern) {
      const other = exact.get(e.branch);
      if (other)
        problems.push({
          path: [...at, 'branch'],
          message: `branch "${e.branch}" already belongs to environment "${other}"`,
          hint: 'a branch deploys into one environment',
        });
      else exact.set(e.branch, name);
    }
    if (e.data !== undefined && e.data !== 'empty') {
      const from = m.environments?.[e.data.copy];
      if (e.data.copy === name)
        problems.push({
          path: [...at, 'data', 'copy'],
          message: 'an environment cannot copy its own data',
          hint: 'name another environment, e.g. copy: production',
        });
      else if (!from)
        problems.push({
          path: [...at, 'data', 'copy'],
          message: `unknown environment "${e.data.copy}"`,
          hint: `environments in this file: ${envs.map(([n]) => n).join(', ')}`,
        });
      else if (from.branch.includes('*'))
        problems.push({
          path: [...at, 'data', 'copy'],
          message: `"${e.data.copy}" is a branch pattern, with one environment per branch: there is no one data dir to copy`,
          hint: 'copy from an environment with a fixed branch, such as production',
        });
    }
    if (e.expire !== undefined && !pattern)
      problems.push({
        path: [...at, 'expire'],
        atKey: true,
        message: `only environments made from a branch pattern expire; "${e.branch}" is a fixed branch`,
        hint: 'remove expire, or use a pattern like "feature/*"',
      });
    for (const key of Object.keys(e.env ?? {})) {
      if (RESERVED_ENV.includes(key))
        problems.push({
          path: [...at, 'env', key],
          atKey: true,
          message: `${key} is set by Berth and cannot be overridden`,
          hint: 'remove this key',
        });
    }
    if (e.hostname === undefined) {
      if (routes.length === 0) continue;
      if (pattern)
        problems.push({
          path: at,
          message: `every branch matching "${e.branch}" would serve the same hosts: a pattern needs a hostname template`,
          hint: 'e.g. hostname: "{branch}.preview.example.com" (or "{branch}.{host}" for several hosts)',
        });
      else if (asWritten)
        problems.push({
          path: at,
          message: `environments "${asWritten}" and "${name}" would both serve the hosts as written in the routes`,
          hint: `give "${name}" a hostname template, e.g. hostname: "${name}.{host}"`,
        });
      else asWritten = name;
      continue;
    }
    const unknown = [...e.hostname.matchAll(/\{([^}]*)\}/g)]
      .map((x) => x[1] as string)
      .filter((k) => !(HOST_PLACEHOLDERS as readonly string[]).includes(k));
    if (unknown.length > 0) {
      const guess = closest(unknown[0] as string, HOST_PLACEHOLDERS);
      problems.push({
        path: [...at, 'hostname'],
        message: `unknown placeholder {${unknown[0]}}`,
        hint: `${guess ? `did you mean {${guess}}? ` : ''}placeholders: ${HOST_PLACEHOLDERS.map((k) => `{${k}}`).join(', ')}`,
      });
      continue;
    }
    if (pattern && !e.hostname.includes('{branch}')) {
      problems.push({
        path: [...at, 'hostname'],
        message: 'every branch of this pattern would get the same hosts: the template needs {branch}',
        hint: 'e.g. "{branch}.preview.example.com"',
      });
      continue;
    }
    const derived = new Map<string, string>();
    for (const r of routes) {
      const host = expandHost(e.hostname, { branch: 'x', host: r.host, service: r.service, app: m.app });
      if (!HOST_PATTERN.test(host)) {
        problems.push({
          path: [...at, 'hostname'],
          message: `the template makes ${JSON.stringify(host)} of route host ${r.host}, which is not a hostname`,
          hint: 'lowercase labels of a-z, 0-9 and "-", separated by dots',
        });
        break;
      }
      const other = derived.get(host);
      if (other !== undefined && other !== r.host) {
        problems.push({
          path: [...at, 'hostname'],
          message: `the template gives routes of ${other} and ${r.host} the same host (${host} for a branch "x")`,
          hint: `put {host} or {service} in it, e.g. "{branch}-{service}.${e.hostname.split('.').slice(1).join('.') || 'preview.example.com'}"`,
        });
        break;
      }
      derived.set(host, r.host);
    }
  }
  return problems;
}
