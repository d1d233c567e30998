import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ServiceSpec } from '../../config/manifest-types.js';
import { BerthError } from '../../core/errors.js';
import { Redactor } from '../../core/redact.js';
import { tailLines } from '../../runtime/log-files.js';
import { MARKER_ENV, stopProcesses } from '../../runtime/process-runner.js';
import { runCommand } from '../../system/command.js';
import type { UnixIds } from '../../system/users.js';
import type { StepRecord } from './journal.js';
import { baseEnv, launchEnv, serviceCwd } from '../launch-env.js';
import { databaseEnv } from '../databases/connection.js';
import type { DeployContext } from './context.js';
import type { StepDeps } from './step-deps.js';
import { depsEnv } from './deps-steps.js';

/** How long a release hook may run before it is stopped and the deploy fails. */
const HOOK_TIMEOUT_MS = 30 * 60_000;

/** What one release hook runs with. */
interface HookRun {
  readonly spec: ServiceSpec;
  /** The new release's directory (the hook runs in the service's cwd inside it). */
  readonly releaseDir: string;
  /** The environment's data directory: made (and given to the app's user) when missing. */
  readonly dataDir: string;
  /** The build log: the hook's output is appended to it. */
  readonly logFile: string;
  /** Its databases' variables (DATABASE_URL, PG*, REDIS_URL), HOME (of the app's user) and the secrets, over the service's env; never over what Berth sets. */
  readonly extraEnv: Readonly<Record<string, string>>;
  readonly user: UnixIds | undefined;
  /** Gives the data dir to the app's user (AppUsers.leaf). */
  readonly ownDataDir: (dir: string) => void;
  readonly redact: (text: string) => string;
  readonly base: { PATH: string; HOME: string };
}

/**
 * The mark every process of a release hook carries (in BERTH_INSTANCE, inherited by its children),
 * so an interrupted hook can be found and stopped. It names no instance, so `berth doctor`, which
 * looks only at marks of its own instances, never reports a running hook as a leftover.
 */
export function hookMarker(releaseDir: string, service: string): string {
  return `release-hook:${releaseDir}:${service}`;
}

/** A deployment's release hook step for one service: with the app's user, secrets and data dir of its environment. */
export async function runHook(d: StepDeps, c: DeployContext, spec: ServiceSpec, logFile: string): Promise<void> {
  const ids = await d.users?.ids(c.app, c.env);
  d.users?.rootDirs(ids, [path.dirname(logFile)]);
  const secrets = (await d.secretEnv?.(c.app, c.env)) ?? {};
  // Its own secrets out of the build log (only its own: no other app's value is confirmed by a [redacted]).
  // Its databases (started before the hooks: see planDeploy), as an instance of the service gets them.
  const connections = spec.dependsOn.length > 0 ? await d.instances.databases.connections(c.app, c.env) : [];
  const own = new Redactor();
  own.set([...Object.values(secrets), ...connections.map((x) => x.password)]);
  await runReleaseHook({
    spec,
    releaseDir: c.release.dir,
    dataDir: d.layout.dataDir(c.app, c.env),
    logFile,
    extraEnv: {
      ...databaseEnv(spec, connections),
      ...(ids && spec.env.HOME === undefined ? { HOME: d.users?.home(c.app, c.env) as string } : {}),
      ...secrets,
    },
    user: ids,
    ownDataDir: (dir) => d.users?.leaf(ids, dir, 0o700),
    redact: (t) => own.redact(t),
    base: baseEnv(d.appPath),
  });
}

/**
 * Runs a service's release hook once: in the new release, as the app's user, with everything an
 * instance of the new release gets but what only a listening instance has ($PORT; and the addresses
 * of dependencies, none of which run yet, but for its managed databases, started before it). Fails with the command's last lines of output.
 */
async function runReleaseHook(r: HookRun): Promise<void> {
  const { spec } = r;
  const argv = spec.release as readonly string[];
  const cwd = serviceCwd(r.releaseDir, spec);
  mkdirSync(r.dataDir, { recursive: true, mode: 0o700 });
  r.ownDataDir(r.dataDir);
  mkdirSync(path.dirname(r.logFile), { recursive: true, mode: 0o750 });
  const marker = hookMarker(r.releaseDir, spec.name);
  const env = {
    ...launchEnv(spec, null, r.dataDir, marker, depsEnv(r.base, spec, cwd)),
    ...r.extraEnv,
    [MARKER_ENV]: marker,
  };
  appendFileSync(r.logFile, r.redact(`[berth] release hook of ${spec.name}: ${shown(argv)}\n`), { mode: 0o640 });
  const timeout = { hit: false };
  const timer = setTimeout(() => {
    timeout.hit = true;
    void stopHook(r.releaseDir, spec);
  }, HOOK_TIMEOUT_MS);
  let result;
  try {
    result = await runCommand(argv, {
      cwd,
      env,
      logFile: r.logFile,
      redact: r.redact,
      uid: r.user?.uid,
      gid: r.user?.gid,
    });
  } catch (err) {
    throw failure(spec, argv, `could not be started: ${(err as Error).message}`, r.logFile);
  } finally {
    clearTimeout(timer);
  }
  if (result.code === 0 && !timeout.hit) return;
  const how = timeout.hit
    ? `was stopped after ${HOOK_TIMEOUT_MS / 60_000} minutes`
    : result.signal
      ? `was killed by ${result.signal}`
      : `exited with code ${result.code}`;
  throw failure(spec, argv, how, r.logFile);
}

/** Stops whatever is left of a service's release hook (cut off by a berthd restart, or a failure that left a child). */
export async function stopHook(releaseDir: string, spec: ServiceSpec): Promise<void> {
  await stopProcesses(null, hookMarker(releaseDir, spec.name), spec.stopTimeoutMs);
}

function failure(spec: ServiceSpec, argv: readonly string[], how: string, logFile: string): BerthError {
  const lines = tailLines(logFile, 10)
    .map((l) => `  ${l}`)
    .join('\n');
  return new BerthError(
    'failed',
    'release_hook_failed',
    `release hook of ${spec.name} failed: \`${shown(argv)}\` ${how}; nothing of the new release started; last log lines:\n${lines}`,
    {
      hint: `see ${logFile}; fix the hook (services.${spec.name}.release in berth.yaml) or what it needs, then deploy again`,
    },
  );
}

/** The command as the author wrote it: the text of a `sh -c` string, or the argv joined. */
function shown(argv: readonly string[]): string {
  return argv.length === 3 && argv[0] === 'sh' && argv[1] === '-c' ? (argv[2] as string) : argv.join(' ');
}

/**
 * What the error of a deployment undone at berthd's start adds when berthd stopped during a release
 * hook: the hook is neither run again (a second run must be asked for, by deploying again) nor undone.
 */
export function cutOffHook(step: StepRecord | undefined): string {
  if (step?.kind !== 'hook') return '';
  const service = step.services?.[0] ?? '?';
  if (step.data?.started === undefined) return `; the release hook of ${service} had not started`;
  return `; the release hook of ${service} was running (it may have finished): what it did stays (a hook is not undone), what was left of it was stopped, and it is not run again; deploy again to run it from the start`;
}
