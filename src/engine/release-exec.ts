import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { ServiceSpec } from '../config/manifest-types.js';
import { storedManifest } from '../config/stored-manifest.js';
import { closest } from '../core/did-you-mean.js';
import { BerthError } from '../core/errors.js';
import { stopProcesses } from '../runtime/process-runner.js';
import type { Store } from '../store/store.js';
import type { HomeLayout } from '../system/paths.js';
import type { UnixIds } from '../system/users.js';
import { procStat } from '../system/proc.js';
import type { AppUsers } from './app-users.js';
import { databaseEnv, type DatabaseConnection } from './databases/connection.js';
import { baseEnv, launchEnv, serviceCwd } from './launch-env.js';
import { depsEnv } from './deploy/deps-steps.js';

/** Everything a command needs to run in an environment's current release as one of its services runs. */
export interface ExecPlan {
  readonly app: string;
  readonly env: string;
  readonly environmentId: number;
  readonly release: number;
  readonly service: string;
  /** The service's working directory inside the release. */
  readonly cwd: string;
  /** The service's environment as an instance gets it (secrets, $DATA_DIR, HOME), without PORT. */
  readonly vars: Readonly<Record<string, string>>;
  /** The app's system user it runs as; undefined when apps run as berthd's user. */
  readonly user: UnixIds | undefined;
  /** Marks every process of the command (inherited by its children), so a stop finds them all. */
  readonly marker: string;
}

export interface ExecDeps {
  readonly store: Store;
  readonly layout: HomeLayout;
  readonly markerPrefix: string;
  readonly users?: AppUsers | undefined;
  readonly secretEnv?: ((app: string, env: string) => Promise<Record<string, string>>) | undefined;
  /** PATH of every instance (host setting `app_path`). */
  readonly appPath?: string | undefined;
  /** The environment's running managed databases (DATABASE_URL, REDIS_URL and the rest, as a service gets them). */
  readonly databases?: ((app: string, env: string) => Promise<DatabaseConnection[]>) | undefined;
}

/**
 * Runs commands in an environment's current release the way its service runs: the service's
 * cwd in the release, its env from the manifest (the environment's over the service's),
 * secrets, $DATA_DIR and HOME, its databases' URLs, as the app's system user when apps have users. No PORT: the
 * port belongs to the running instance. `berth run` and `cron:` jobs both start here.
 */
export class ReleaseExec {
  readonly #d: ExecDeps;
  #runs = 0;

  constructor(deps: ExecDeps) {
    this.#d = deps;
  }

  /** A fresh marker for one command: `<prefix>:<kind>-<id>`, never an instance's (those are numbers). */
  marker(kind: 'run' | 'cron', id: number | string = `${process.pid}.${++this.#runs}`): string {
    return `${this.#d.markerPrefix}:${kind}-${id}`;
  }

  /**
   * Resolves app, environment, current release and service (default: the first that runs a
   * process), and builds the command's environment. Refuses what has nothing to run in.
   */
  async plan(app: string, env: string, service: string | undefined, marker: string): Promise<ExecPlan> {
    const { store, layout, users } = this.#d;
    const row = (await store.apps.environments({ app, env }))[0];
    if (!row) {
      const names = (await store.apps.environments({ app })).map((e) => e.name);
      throw new BerthError('not_found', 'environment_not_found', `app "${app}" has no environment "${env}"`, {
        hint: `its environments: ${names.join(', ') || 'none'} (choose one with --env)`,
      });
    }
    const release = row.currentReleaseId === null ? undefined : await store.releases.get(row.currentReleaseId);
    if (!release)
      throw new BerthError(
        'conflict',
        'no_current_release',
        `${app} (${env}) has no current release: there is nothing to run a command in yet`,
        { hint: `deploy it first (berth deploy), then run the command again; see berth releases ${app}` },
      );
    const spec = pickService(storedManifest(release.manifest).services, app, service);
    const cwd = serviceCwd(release.dir, spec);
    const dataDir = layout.dataDir(app, env);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const ids = await users?.ids(app, env);
    users?.leaf(ids, dataDir, 0o700);
    const vars = {
      // The same <NAME>_URL/_HOST/_PORT an instance of this release gets: its dependencies of this release.
      ...launchEnv(
        spec,
        null,
        dataDir,
        marker,
        depsEnv(baseEnv(this.#d.appPath), spec, cwd),
        await store.addresses.list({ releaseId: release.id }),
      ),
      ...(spec.dependsOn.length > 0 && this.#d.databases ? databaseEnv(spec, await this.#d.databases(app, env)) : {}),
      ...(ids && spec.env.HOME === undefined ? { HOME: users?.home(app, env) as string } : {}),
      ...(await this.#d.secretEnv?.(app, env)),
    };
    return {
      app,
      env,
      environmentId: row.id,
      release: release.number,
      service: spec.name,
      cwd,
      vars,
      user: ids,
      marker,
    };
  }

  /**
   * Starts `argv` (no shell) by the plan with its output in pipes, in a process group of its
   * own. Resolves once it runs; rejects, saying what is wrong, when it cannot start.
   */
  attach(plan: ExecPlan, argv: readonly string[]): Promise<AttachedCommand> {
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0] as string, argv.slice(1), {
        cwd: plan.cwd,
        env: { ...plan.vars },
        detached: true,
        shell: false,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(plan.user ? { uid: plan.user.uid, gid: plan.user.gid } : {}),
      });
      const exited = new Promise<{ code: number | null; signal: string | null }>((done) =>
        child.once('close', (code, signal) => done({ code, signal })),
      );
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'ENOENT' || err.code === 'EACCES'
            ? new BerthError(
                'invalid',
                'program_missing',
                `cannot run "${argv[0]}" in ${plan.app}/${plan.service}: ${err.code === 'ENOENT' ? 'no such program on its PATH or in its directory' : 'permission denied'}`,
                { hint: `PATH there is ${plan.vars.PATH}; name the program by its path relative to ${plan.cwd}` },
              )
            : err,
        ),
      );
      child.once('spawn', () => {
        const pid = child.pid as number;
        const ref = { pid, startTicks: procStat(pid)?.startTicks ?? '' };
        resolve({
          stdout: child.stdout,
          stderr: child.stderr,
          exited,
          stop: async () => void (await stopProcesses(ref, plan.marker, 5000)),
        });
      });
    });
  }
}

/** A command running with its output in pipes. */
export interface AttachedCommand {
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  /** Settles when it has exited and its output is read. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Ends it and whatever it started (SIGTERM, SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** The named service (a process, not a static one), or the first that runs a process. */
function pickService(services: readonly ServiceSpec[], app: string, name: string | undefined): ServiceSpec {
  const processes = services.filter((s) => s.kind === 'process');
  if (name === undefined) {
    const first = processes[0];
    if (!first)
      throw new BerthError('invalid', 'no_process_service', `${app} has no service that runs a process`, {
        hint: 'a command runs as a service runs: add a service with `run:` to berth.yaml',
      });
    return first;
  }
  const spec = services.find((s) => s.name === name);
  if (spec?.kind === 'process') return spec;
  if (spec)
    throw new BerthError('invalid', 'service_static', `service "${name}" of ${app} is static: it runs no process`, {
      hint: `name a service that runs one: ${processes.map((s) => s.name).join(', ') || 'none'}`,
    });
  const guess = closest(
    name,
    processes.map((s) => s.name),
  );
  throw new BerthError('not_found', 'service_not_found', `app "${app}" has no service "${name}"`, {
    hint: guess ? `did you mean "${guess}"?` : `its services: ${processes.map((s) => s.name).join(', ')}`,
  });
}
