import { closest } from '../core/did-you-mean.js';
import { environmentProblems, RESERVED_ENV } from './manifest-environments.js';
import { cronProblems } from './manifest-cron.js';
import { backupProblems } from './manifest-backup.js';
import { dependencyWaves } from '../core/waves.js';
import type { Problem } from './manifest-errors.js';
import { HOST_PATTERN, type ManifestInput, type ServiceInput } from './manifest-schema.js';
import { databaseOf, isContainer, routeKey, normalizeRoute } from './manifest-normalize.js';
import { containerProblems } from './manifest-containers.js';
import { swarmProblems } from './manifest-swarm.js';
import { databaseProblems } from './manifest-databases.js';

/** Checks that need the whole manifest: references, cycles, pinned ports, reserved names. */
export function semanticProblems(m: ManifestInput): Problem[] {
  const names = Object.keys(m.services);
  const problems: Problem[] = [];
  if (names.length === 0)
    problems.push({
      path: ['services'],
      message: 'needs at least one service',
      hint: 'e.g. services: { web: { run: "node server.js" } }',
    });
  const pinnedBy = new Map<number, string>();
  const routedBy = new Map<string, string>();
  for (const [name, svc] of Object.entries(m.services)) {
    problems.push(...serviceProblems(name, svc, names));
    if (typeof svc.port === 'number') {
      const other = pinnedBy.get(svc.port);
      if (other)
        problems.push({
          path: ['services', name, 'port'],
          message: `port ${svc.port} is already pinned by service "${other}"`,
          hint: 'give each service its own port, or use `port: auto`',
        });
      else pinnedBy.set(svc.port, name);
    }
    (svc.routes ?? []).forEach((r, i) => {
      const route = normalizeRoute(r);
      if (!HOST_PATTERN.test(route.host))
        problems.push({
          path: ['services', name, 'routes', i],
          message: `expected a lowercase hostname like "api.example.com", got host ${JSON.stringify(route.host)}`,
          hint: 'labels of a-z, 0-9 and "-", separated by dots',
        });
      if (route.path.split('/').some((seg) => seg === '.' || seg === '..'))
        problems.push({
          path: ['services', name, 'routes', i],
          message: `a route path may not contain "." or ".." segments, got ${JSON.stringify(route.path)}`,
          hint: 'e.g. /api/',
        });
      const key = routeKey(route);
      const other = routedBy.get(key);
      if (other && other !== name)
        problems.push({
          path: ['services', name, 'routes', i],
          message: `route ${key} is already claimed by service "${other}"`,
          hint: 'each host and path prefix belongs to one service',
        });
      else routedBy.set(key, name);
    });
  }
  problems.push(...environmentProblems(m), ...cronProblems(m), ...backupProblems(m.backup));
  const waves = dependencyWaves(
    Object.entries(m.services).map(([name, s]) => ({
      name,
      dependsOn: (s.depends_on ?? []).filter((d) => d !== name),
    })),
  );
  if (!waves.ok)
    problems.push({
      path: ['services', waves.cycle[0] as string, 'depends_on'],
      message: `dependency cycle: ${waves.cycle.join(' -> ')}`,
      hint: 'remove one of these depends_on entries',
    });
  return problems;
}

function serviceProblems(name: string, svc: ServiceInput, names: readonly string[]): Problem[] {
  const at = ['services', name];
  const problems: Problem[] = [];
  (svc.depends_on ?? []).forEach((dep, i) => {
    if (dep === name)
      problems.push({
        path: [...at, 'depends_on', i],
        message: 'a service cannot depend on itself',
        hint: 'remove it from depends_on',
      });
    else if (!names.includes(dep)) {
      const guess = closest(
        dep,
        names.filter((n) => n !== name),
      );
      problems.push({
        path: [...at, 'depends_on', i],
        message: `unknown service "${dep}"`,
        hint: guess ? `did you mean "${guess}"?` : `services in this file: ${names.join(', ')}`,
      });
    }
  });
  for (const key of Object.keys(svc.env ?? {})) {
    if (RESERVED_ENV.includes(key))
      problems.push({
        path: [...at, 'env', key],
        atKey: true,
        message: `${key} is set by Berth and cannot be overridden`,
        hint:
          key === 'PORT'
            ? 'to choose the port, use `port: <number>` on the service'
            : "DATA_DIR is the environment's own data directory; remove this key",
      });
  }
  for (const key of ['cwd', 'static'] as const) {
    const dir = svc[key];
    if (dir !== undefined && (dir.startsWith('/') || dir.split(/[\\/]/).includes('..'))) {
      problems.push({
        path: [...at, key],
        message: `expected a relative directory inside the app, got ${JSON.stringify(dir)}`,
        hint: 'paths are relative to berth.yaml and may not use ".." or start with "/"',
      });
    }
  }
  problems.push(...containerProblems(name, svc), ...databaseProblems(name, svc), ...swarmProblems(name, svc));
  if (svc.run === undefined && svc.static === undefined && !isContainer(svc) && !databaseOf(svc)) {
    problems.push({
      path: at,
      message:
        'needs `run` (a command to start), `static` (a directory to serve), `image` (a container) or `postgres`/`redis` (a managed database)',
      hint: 'e.g. run: "node server.js", static: dist, image: nginx:1.27, or postgres: 15',
    });
  }
  if (svc.deps !== undefined && svc.deps !== 'none' && isContainer(svc))
    problems.push({
      path: [...at, 'deps'],
      atKey: true,
      message: 'a container installs its dependencies in its image, so `deps` cannot apply',
      hint: 'install them in the Dockerfile, or remove `deps`',
    });
  if (svc.static !== undefined) {
    const extra = (
      [
        'run',
        'port',
        'instances',
        'env',
        'restart',
        'health',
        'stop_timeout',
        'strategy',
        'drain',
        'release',
        'resources',
        'deps',
      ] as const
    ).filter((k) => svc[k] !== undefined);
    if (extra.length > 0)
      problems.push({
        path: [...at, extra[0] as string],
        atKey: true,
        message: `a static service has no process, so \`${extra.join('`, `')}\` cannot apply`,
        hint: 'remove it, or split the process into its own service',
      });
  } else if (svc.spa !== undefined) {
    problems.push({
      path: [...at, 'spa'],
      atKey: true,
      message: '`spa` only applies to a `static` service',
      hint: 'remove it',
    });
  }
  if (typeof svc.port === 'number' && svc.strategy === 'blue-green') {
    problems.push({
      path: [...at, 'strategy'],
      message: `blue-green needs the new instances on new ports, but port ${svc.port} is pinned`,
      hint: 'use `port: auto`, or `strategy: recreate`',
    });
  }
  if (typeof svc.port === 'number' && (svc.instances ?? 1) > 1) {
    problems.push({
      path: [...at, 'instances'],
      message: `${svc.instances} instances cannot share the pinned port ${svc.port}`,
      hint: 'use `port: auto` for services with several instances',
    });
  }
  if (svc.port === 'none' && (svc.health?.http !== undefined || svc.health?.tcp)) {
    problems.push({
      path: [...at, 'health'],
      message: 'an http or tcp probe needs a port, but this service has `port: none`',
      hint: 'use `port: auto`, or drop the probe',
    });
  }
  if (svc.port === 'none' && (svc.routes?.length ?? 0) > 0) {
    problems.push({
      path: [...at, 'routes'],
      message: 'routes need a port, but this service has `port: none`',
      hint: 'use `port: auto`',
    });
  }
  if (svc.health?.http !== undefined && svc.health.tcp !== undefined) {
    problems.push({ path: [...at, 'health'], message: 'http and tcp are mutually exclusive', hint: 'keep one probe' });
  }
  return problems;
}
