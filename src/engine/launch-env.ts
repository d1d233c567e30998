import { accessSync, constants, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { STANDARD_PATH } from '../config/host-settings.js';
import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import { resolveUnder } from '../system/paths.js';
import { MARKER_ENV } from '../runtime/process-runner.js';

/**
 * What every build and instance starts from: PATH from the host settings, HOME of the user
 * berthd runs as (from the password database). Never berthd's own environment, so an app
 * runs the same whether berthd was started by systemd, a login shell (pyenv shims on its
 * PATH) or a test.
 */
export function baseEnv(appPath: string = STANDARD_PATH): { PATH: string; HOME: string } {
  let home = '/';
  try {
    home = userInfo().homedir || '/';
  } catch {
    // no passwd entry: keep /
  }
  return { PATH: appPath, HOME: home };
}

/** A stable address of a service (see engine/service-addresses.ts). */
export interface DependencyAddress {
  readonly service: string;
  readonly port: number;
  /**
   * Its own DNS name, where it has one (a Swarm service's, on its overlay); else it is reached on the dependent's
   * `host`. (Not `host`: the store's addresses carry their lease's host under that name.)
   */
  readonly dnsName?: string;
}

/** The prefix of a dependency's variables: "api" -> API, "user-db" -> USER_DB (a service name has no "_", so no two names share one). */
export function discoveryPrefix(service: string): string {
  return service.toUpperCase().replace(/-/g, '_');
}

/**
 * <NAME>_URL (http://<host>:<port>), <NAME>_HOST and <NAME>_PORT of each of `spec`'s
 * dependencies that has an address in `addresses` (those of its own release). `host` is 127.0.0.1
 * for a process, its network's gateway for a container (see service-addresses.ts). No two
 * dependencies can make the same variable (the suffixes differ in their last letters).
 */
export function dependencyEnv(
  spec: ServiceSpec,
  addresses: readonly DependencyAddress[],
  host = '127.0.0.1',
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const dep of spec.dependsOn) {
    const a = addresses.find((x) => x.service === dep);
    if (!a) continue; // no port (`port: none`, `static:`): nothing to reach
    const name = discoveryPrefix(dep);
    const at = a.dnsName ?? host;
    env[`${name}_URL`] = `http://${at}:${a.port}`;
    env[`${name}_HOST`] = at;
    env[`${name}_PORT`] = String(a.port);
  }
  return env;
}

/**
 * The environment an instance gets: `base` (PATH, HOME; see baseEnv), its dependencies'
 * addresses (dependencyEnv, on `addressHost`: a container's gateway), the manifest's env over them (a value the user sets wins, so
 * `env: { API_URL: ... }` points a service elsewhere on purpose), then PORT, DATA_DIR and the
 * instance marker. Nothing else of the daemon's environment leaks in.
 */
export function launchEnv(
  spec: ServiceSpec,
  port: number | null,
  dataDir: string,
  marker: string,
  base: { PATH: string; HOME: string } = baseEnv(),
  addresses: readonly DependencyAddress[] = [],
  addressHost?: string,
): Record<string, string> {
  const env: Record<string, string> = {
    ...base,
    ...dependencyEnv(spec, addresses, addressHost),
    ...spec.env,
    DATA_DIR: dataDir,
    [MARKER_ENV]: marker,
  };
  if (port !== null) env.PORT = String(port);
  return env;
}

/**
 * An instance's whole environment, wherever it runs (a process, a container, a Swarm task): launchEnv's, its
 * managed databases' connections, its app user's HOME, then the app environment's secrets (`berth secrets set`).
 * Secrets never override what Berth sets (their names exclude PORT, DATA_DIR and the marker). A container gets
 * containerEnv() of this (engine/container-instances.ts).
 */
export function instanceEnv(
  launch: Readonly<Record<string, string>>,
  more: {
    readonly databases?: Readonly<Record<string, string>>;
    readonly home?: string | undefined;
    readonly secrets?: Readonly<Record<string, string>> | undefined;
  },
): Record<string, string> {
  return { ...launch, ...more.databases, ...(more.home !== undefined ? { HOME: more.home } : {}), ...more.secrets };
}

/** The working directory of a service, proven to be an existing directory under the source root. */
export function serviceCwd(sourceDir: string, spec: ServiceSpec): string {
  const cwd = resolveUnder(sourceDir, spec.cwd);
  let isDir = false;
  try {
    isDir = statSync(cwd).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) {
    throw new BerthError('invalid', 'cwd_missing', `service "${spec.name}": working directory ${cwd} does not exist`, {
      hint: `create it, or fix services.${spec.name}.cwd in berth.yaml`,
    });
  }
  return cwd;
}

/** Fails before anything starts when the program of `argv` cannot be found or run. */
export function assertRunnable(spec: ServiceSpec, cwd: string, env: Record<string, string>): void {
  const program = spec.argv[0] as string;
  const candidates = program.includes('/')
    ? [path.resolve(cwd, program)]
    : (env.PATH ?? '')
        .split(':')
        .filter(Boolean)
        .map((d) => path.join(d, program));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return;
    } catch {
      // try the next
    }
  }
  throw new BerthError(
    'invalid',
    'program_missing',
    `service "${spec.name}": cannot find an executable "${program}"${program.includes('/') ? '' : ' on PATH'}`,
    {
      hint: `install it, or fix services.${spec.name}.run in berth.yaml (set env.PATH if it lives elsewhere)`,
    },
  );
}

/** Turns a spawn error into what the operator needs to know. */
export function explainSpawnError(err: unknown, spec: ServiceSpec, cwd: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  const program = spec.argv[0] as string;
  if (code === 'ENOENT' && program.includes('/')) {
    try {
      if (statSync(path.resolve(cwd, program)).isFile())
        return `cannot execute ${program}: the interpreter on its #! line does not exist`;
    } catch {
      // fall through
    }
  }
  return err instanceof Error ? err.message : String(err);
}
