import { NAME_PATTERN } from '../core/names.js';
import type { Problem } from './manifest-errors.js';
import { databaseOf, isContainer } from './manifest-normalize.js';
import type { ServiceInput } from './manifest-schema.js';

/**
 * Container options a berth.yaml may never set, each with why: every one of them makes the
 * app root on the host, or lets it out of its own network, processes and data. A berth.yaml
 * that names one is refused with this reason (rather than "unknown key"), so whoever comes
 * from a compose file learns it is a rule, not a missing feature.
 */
export const REFUSED_CONTAINER_KEYS: Readonly<Record<string, string>> = Object.freeze({
  privileged: 'a privileged container is root on the host: Berth never runs one',
  cap_add: 'capabilities are never added to a container: it keeps the engine default set or fewer',
  devices: "the host's devices are never passed into a container",
  network_mode:
    "a container runs on its app environment's own network: the host's network (or another container's) is never joined",
  networks: "a container runs on its app environment's own network, where its app's services reach it by name",
  pid: "the host's process namespace is never shared with a container",
  ipc: "the host's IPC namespace is never shared with a container",
  uts: "the host's UTS namespace is never shared with a container",
  userns_mode: 'the user namespace of a container is never the host one',
  security_opt: 'security options (seccomp, AppArmor, no-new-privileges) are never relaxed',
  sysctls: "a container never changes the kernel's settings",
  cgroup_parent: 'a container stays in the cgroup its engine gives it',
  ports:
    'a container is published on 127.0.0.1:<its leased port> only: say where it listens inside with container_port',
  mounts: 'nothing of the host is mounted in a container but its declared volumes',
});

/** Keys that only a container service takes. */
const CONTAINER_ONLY = ['container_port', 'entrypoint', 'volumes', 'image', 'pull', 'registry_auth', 'user'] as const;

/** The problems of one service's container keys (its kind, port, volumes, build context). */
export function containerProblems(name: string, svc: ServiceInput): Problem[] {
  const at = ['services', name];
  const problems: Problem[] = [];
  if (databaseOf(svc) !== undefined) return problems; // a database's keys: see manifest-databases
  if (!isContainer(svc)) {
    const stray = CONTAINER_ONLY.filter((k) => svc[k] !== undefined);
    if (stray.length > 0)
      problems.push({
        path: [...at, stray[0] as string],
        atKey: true,
        message: `\`${stray.join('`, `')}\` only applies to a container (a service with \`image:\` or \`build: { dockerfile }\`)`,
        hint: 'add `image:`, or remove it',
      });
    return problems;
  }
  for (const key of ['static', 'release', 'cwd'] as const)
    if (svc[key] !== undefined)
      problems.push({
        path: [...at, key],
        atKey: true,
        message: `\`${key}\` does not apply to a container`,
        hint:
          key === 'cwd'
            ? 'a container runs in its image; for a build, say where its files are with build.context'
            : 'remove it, or make this a process service (`run:` without `image:`)',
      });
  if (svc.port === 'none' && svc.container_port !== undefined)
    problems.push({
      path: [...at, 'container_port'],
      atKey: true,
      message: 'this container has `port: none`, so it has no port to publish',
      hint: 'remove container_port, or the `port: none`',
    });
  if (svc.port !== 'none' && svc.container_port === undefined)
    problems.push({
      path: at,
      message: 'a container with a port needs `container_port`: the port it listens on inside',
      hint: 'e.g. container_port: 8000 (or `port: none` for a worker that listens nowhere)',
    });
  for (const [target, volume] of Object.entries(svc.volumes ?? {})) {
    if (!target.startsWith('/') || target === '/' || target.split('/').includes('..') || target.includes('\0'))
      problems.push({
        path: [...at, 'volumes', target],
        atKey: true,
        message: `expected an absolute path inside the container (not "/", no ".."), got ${JSON.stringify(target)}`,
        hint: 'e.g. volumes: { /app/media: media }',
      });
    if (!NAME_PATTERN.test(volume))
      problems.push({
        path: [...at, 'volumes', target],
        message: `expected a volume name (a directory of $DATA_DIR, a-z, 0-9 and "-"), got ${JSON.stringify(volume)}: nothing of the host but the environment's own $DATA_DIR is ever mounted`,
        hint: `e.g. { ${target}: media } mounts $DATA_DIR/media there`,
      });
  }
  const b = typeof svc.build === 'object' && !Array.isArray(svc.build) ? svc.build : undefined;
  problems.push(...pullProblems(at, svc, b !== undefined));
  for (const key of ['context', 'dockerfile'] as const) {
    const p = b?.[key];
    if (p !== undefined && (p.startsWith('/') || p.split(/[\\/]/).includes('..')))
      problems.push({
        path: [...at, 'build', key],
        message: `expected a relative path inside the app, got ${JSON.stringify(p)}`,
        hint: 'paths are relative to berth.yaml and may not use ".." or start with "/"',
      });
  }
  return problems;
}

/** `pull` and `registry_auth` go with `image:` alone (a build's image is never pulled); one user name. */
export function pullProblems(at: readonly string[], svc: ServiceInput, builds: boolean): Problem[] {
  const problems: Problem[] = [];
  for (const key of ['pull', 'registry_auth'] as const)
    if (builds && svc[key] !== undefined)
      problems.push({
        path: [...at, key],
        atKey: true,
        message: `\`${key}\` applies to an \`image:\` that is pulled, not to a \`build:\``,
        hint: 'remove it: the image of a build is built on this host, never pulled',
      });
  const a = svc.registry_auth;
  if (a && (a.username === undefined) === (a.username_secret === undefined))
    problems.push({
      path: [...at, 'registry_auth'],
      message:
        'expected one of `username` (the user name as is) or `username_secret` (the name of a secret holding it)',
      hint: 'e.g. registry_auth: { username: deploy-bot, password_secret: REGISTRY_PASSWORD }',
    });
  return problems;
}

/** The refusal of a container option (`privileged`, `cap_add`, ...) named at `path`, if it is one. */
export function refusedKeyProblem(path: readonly (string | number)[], key: string): Problem | undefined {
  const why = REFUSED_CONTAINER_KEYS[key];
  if (why === undefined || path.length !== 2 || path[0] !== 'services') return undefined;
  return {
    path: [...path, key],
    atKey: true,
    message: `"${key}" is refused: ${why}`,
    hint: `remove ${key}; see "Containers" in the README for what a container may do`,
  };
}
