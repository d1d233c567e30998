import type { EnvironmentSpec, Manifest, ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from './errors.js';
import { NAME_MAX } from './names.js';

/** A branch name as git allows it and Berth accepts it: never starting with "-", no "..", no empty segment. */
const BRANCH = /^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$/;

export function assertBranch(branch: string): string {
  if (
    !BRANCH.test(branch) ||
    branch.includes('..') ||
    branch.includes('//') ||
    branch.endsWith('/') ||
    branch.endsWith('.lock')
  ) {
    throw new BerthError(
      'invalid',
      'invalid_branch',
      `branch ${JSON.stringify(branch)} is not a branch name Berth accepts`,
      { hint: 'letters, digits and . _ / -, at most 200 characters, not starting with "-", without ".." or "//"' },
    );
  }
  return branch;
}

/** "*" matches any characters ("/" included); everything else literally. */
export function branchMatches(pattern: string, branch: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.+')}$`,
  );
  return re.test(branch);
}

/**
 * A branch as a DNS label: lowercase, runs of anything else as one "-". Too long a name
 * keeps its start and gets a hash of the whole branch, so it stays unique.
 */
export function branchSlug(branch: string): string {
  const slug = branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug.length === 0)
    throw new BerthError(
      'invalid',
      'invalid_branch',
      `branch ${JSON.stringify(branch)} has no letters or digits to name an environment after`,
    );
  if (slug.length <= NAME_MAX) return slug;
  const hash = fnv1a(branch).toString(16).padStart(8, '0');
  return `${slug.slice(0, NAME_MAX - 9).replace(/-+$/, '')}-${hash}`;
}

export const HOST_PLACEHOLDERS = ['branch', 'host', 'service', 'app'] as const;

/** Fills a hostname template. Unknown placeholders stay as they are (the manifest check names them). */
export function expandHost(
  template: string,
  values: Readonly<Record<(typeof HOST_PLACEHOLDERS)[number], string>>,
): string {
  return template.replace(/\{([a-z]+)\}/g, (all, key: string) =>
    key in values ? values[key as keyof typeof values] : all,
  );
}

/** The environment of a manifest that takes `branch`: an exact branch first, then patterns in manifest order. */
export function environmentFor(
  envs: readonly EnvironmentSpec[],
  branch: string,
): { spec: EnvironmentSpec; name: string } {
  const exact = envs.find((e) => !e.pattern && e.branch === branch);
  if (exact) return { spec: exact, name: exact.name };
  const pattern = envs.find((e) => e.pattern && branchMatches(e.branch, branch));
  if (!pattern) {
    throw new BerthError('invalid', 'branch_not_accepted', `no environment accepts branch "${branch}"`, {
      hint: `the environments and their branches: ${envs.map((e) => `${e.name}: ${e.branch}`).join(', ')}`,
    });
  }
  const name = branchSlug(branch);
  const clash = envs.find((e) => e.name === name);
  if (clash) {
    throw new BerthError(
      'conflict',
      'environment_name_taken',
      `branch "${branch}" would make environment "${name}", but that is the name of the declared environment for branch "${clash.branch}"`,
      { hint: 'rename the branch' },
    );
  }
  return { spec: pattern, name };
}

/**
 * The manifest as it runs in one environment: route hosts from the environment's template,
 * its env variables over the services' own. Two routes whose hosts the template makes equal
 * must have been equal before (checked in the manifest, and here again for the real branch).
 */
export function manifestForEnvironment(m: Manifest, spec: EnvironmentSpec, envName: string): Manifest {
  const byHost = new Map<string, string>();
  const services = m.services.map((s): ServiceSpec => ({
    ...s,
    env: { ...s.env, ...spec.env },
    routes: s.routes.map((r) => {
      if (spec.hostname === null) return r;
      const host = expandHost(spec.hostname, { branch: envName, host: r.host, service: s.name, app: m.app });
      const from = byHost.get(host);
      if (from !== undefined && from !== r.host) {
        throw new BerthError(
          'invalid',
          'hostname_collision',
          `environment "${envName}": the hostname template ${JSON.stringify(spec.hostname)} gives routes of ${from} and ${r.host} the same host ${host}`,
          { hint: 'put {host} or {service} in the template' },
        );
      }
      byHost.set(host, r.host);
      return { ...r, host };
    }),
  }));
  return { ...m, services };
}

/** FNV-1a, 32 bits: a short, stable suffix (uniqueness is checked against the store anyway). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
