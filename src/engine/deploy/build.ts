import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Manifest, ServiceSpec } from '../../config/manifest-types.js';
import { BerthError } from '../../core/errors.js';
import { tailLines } from '../../runtime/log-files.js';
import { runCommand } from '../../system/command.js';
import { resolveUnder } from '../../system/paths.js';
import type { UnixIds } from '../../system/users.js';
import { reuseBuild } from './build-reuse.js';
import { buildUnits, unitKey } from './build-units.js';
import { depsKey, depsReusable, reuseDeps } from './deps-reuse.js';
import { depsCommands, depsEnv, type BuildCommand } from './deps-steps.js';

const BUILD_TIMEOUT_MS = 30 * 60_000;

export interface BuildRun {
  /** Every service of the release: those that build (commands or `deps:`) are built. */
  readonly services: readonly ServiceSpec[];
  readonly releaseDir: string;
  readonly logFile: string;
  /** What every build command gets before the service's own env: PATH, HOME, package caches, then secrets over it. */
  readonly env: Readonly<Record<string, string>> & { readonly PATH: string };
  readonly secrets: Readonly<Record<string, string>>;
  readonly user?: UnixIds | undefined;
  readonly redact: (text: string) => string;
  /** The release's files as snapshotted (see releaseFiles); without them nothing is reused or recorded. */
  readonly files?: ReadonlyMap<string, string> | undefined;
  /** The release serving now, whose build output a unit with the same inputs reuses. */
  readonly previous?: { readonly number: number; readonly dir: string; readonly manifest: Manifest } | undefined;
  /** `berth deploy --no-cache`: build everything afresh (the keys are still recorded). */
  readonly noCache: boolean;
}

/** What the builds did: each built service's input key and dependencies' key, and the services whose output was reused. */
export interface BuildOutcome {
  readonly keys: ReadonlyMap<string, string>;
  readonly depsKeys: ReadonlyMap<string, string>;
  readonly reused: readonly string[];
}

/**
 * Builds the release: per build unit (see build-units), either the earlier release's output when
 * its inputs are the same, or, in the fresh release directory, each service's dependencies
 * (deps-steps) then its build commands, in the service's cwd, in manifest order, output to the
 * build log. A changed input, a removed dependency included, builds the unit afresh: nothing of
 * an earlier build is there to hide it. The first failing command fails the build with its last log lines.
 */
export async function runBuilds(run: BuildRun): Promise<BuildOutcome> {
  mkdirSync(path.dirname(run.logFile), { recursive: true, mode: 0o750 });
  const keys = new Map<string, string>();
  const depsKeys = new Map<string, string>();
  const reused: string[] = [];
  const buildEnv = { ...run.env, ...run.secrets };
  for (const unit of buildUnits(run.services)) {
    const key = run.files ? unitKey(unit, run.services, run.files, buildEnv) : undefined;
    const names = unit.services.map((s) => s.name);
    const prev = run.previous;
    const same =
      prev && unit.services.every((s) => prev.manifest.services.find((p) => p.name === s.name)?.buildKey === key);
    for (const s of unit.services) {
      const dkey = run.files && depsKey(s, run.files, { ...run.env, ...s.env, ...run.secrets });
      if (dkey) depsKeys.set(s.name, dkey);
    }
    if (key && prev && same && !run.noCache) {
      log(run, `build of ${names.join(', ')}: inputs unchanged since release ${prev.number}, its output reused`);
      const ok = await reuseBuild(unit, {
        from: prev.dir,
        to: run.releaseDir,
        user: run.user,
        env: buildEnv,
        logFile: run.logFile,
        redact: run.redact,
      });
      if (ok) {
        reused.push(...names);
        for (const n of names) keys.set(n, key);
        continue;
      }
    }
    for (const spec of unit.services) {
      const cwd = resolveUnder(run.releaseDir, spec.cwd);
      const env = { ...run.env, ...spec.env, ...run.secrets };
      // The host's python3 and npm install; the author's commands find the installed ones first on PATH.
      if (!(await reusedDeps(run, spec, depsKeys.get(spec.name), env)))
        for (const command of depsCommands(spec, cwd)) await runOne(run, spec, cwd, env, command);
      for (const c of spec.build)
        await runOne(run, spec, cwd, depsEnv(env, spec, cwd), { argv: ['sh', '-c', c], shown: c });
      if (key) keys.set(spec.name, key);
    }
  }
  return { keys, depsKeys, reused };
}

/**
 * Whether the service's dependencies were copied from the serving release instead of installed:
 * only when their key (dependency files, interpreter, env, build commands) is the one recorded
 * there, they depend on nothing else (depsReusable), and the deploy is not --no-cache.
 */
async function reusedDeps(
  run: BuildRun,
  spec: ServiceSpec,
  key: string | undefined,
  env: Record<string, string>,
): Promise<boolean> {
  const prev = run.previous;
  if (!key || !prev || run.noCache || prev.manifest.services.find((p) => p.name === spec.name)?.depsKey !== key)
    return false;
  if (!depsReusable(spec, run.releaseDir)) return false;
  const what = spec.deps === 'python' ? 'virtualenv' : 'node_modules';
  const opts = { from: prev.dir, to: run.releaseDir, user: run.user, env, logFile: run.logFile, redact: run.redact };
  if (!(await reuseDeps(spec, opts))) return false;
  log(run, `dependencies of ${spec.name}: unchanged since release ${prev.number}, its ${what} reused`);
  return true;
}

async function runOne(
  run: BuildRun,
  spec: ServiceSpec,
  cwd: string,
  env: Record<string, string>,
  command: BuildCommand,
): Promise<void> {
  // The build log is written by Berth, so secret values never reach it.
  const r = await runCommand(command.argv, {
    cwd,
    env,
    logFile: run.logFile,
    timeoutMs: BUILD_TIMEOUT_MS,
    redact: run.redact,
    uid: run.user?.uid,
    gid: run.user?.gid,
  });
  if (r.code === 0) return;
  const lines = tailLines(run.logFile, 10)
    .map((l) => `  ${l}`)
    .join('\n');
  throw new BerthError(
    'failed',
    'build_failed',
    `build of ${spec.name} failed: \`${command.shown}\` ${r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`}; last log lines:\n${lines}`,
    { hint: `see ${run.logFile}` },
  );
}

function log(run: BuildRun, line: string): void {
  appendFileSync(run.logFile, run.redact(`[berth] ${line}\n`), { mode: 0o640 });
}
