import { lstatSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ServiceSpec } from '../../config/manifest-types.js';
import { BerthError } from '../../core/errors.js';
import type { UnixIds } from '../../system/users.js';

/** A service's virtualenv, inside its cwd in the release. */
export const VENV_DIR = '.venv';

/** One command of a build: an argv run without a shell, and how the build log shows it. */
export interface BuildCommand {
  readonly argv: readonly string[];
  readonly shown: string;
}

// Installs pyproject.toml's [project] dependencies (not the project itself: the app runs from its cwd).
// A constant program of Berth's, run as the app's user: the file is read by the app's user, never by berthd.
const PYPROJECT_INSTALL = [
  'import subprocess, sys, tomllib',
  "deps = tomllib.load(open('pyproject.toml', 'rb')).get('project', {}).get('dependencies', [])",
  "sys.exit(subprocess.call([sys.executable, '-m', 'pip', '--python', sys.argv[1], 'install', '--', *deps]) if deps else 0)",
].join('\n');

/**
 * The commands that install a service's dependencies in its cwd of the release (`cwd`), run
 * before its `build:` commands. Python: a fresh virtualenv in .venv (whatever the source had
 * there is removed: a venv copied from elsewhere points at another path), without pip of its
 * own (the host's `python3 -m pip` installs into it, which is much faster than ensurepip),
 * then requirements.txt, else pyproject.toml's dependencies. Node: `npm ci`, which starts
 * node_modules afresh. Fails, saying what is missing, when `deps:` names a kind the cwd does not hold.
 */
export function depsCommands(spec: ServiceSpec, cwd: string): BuildCommand[] {
  const has = (name: string) => isFile(path.join(cwd, name));
  if (spec.deps === 'python') {
    const python = `${VENV_DIR}/bin/python`;
    const venv: BuildCommand[] = [
      { argv: ['rm', '-rf', '--', VENV_DIR], shown: `rm -rf ${VENV_DIR}` },
      {
        argv: ['python3', '-m', 'venv', '--without-pip', VENV_DIR],
        shown: `python3 -m venv --without-pip ${VENV_DIR}`,
      },
    ];
    if (has('requirements.txt')) {
      const argv = ['python3', '-m', 'pip', '--python', python, 'install', '-r', 'requirements.txt'];
      return [...venv, { argv, shown: argv.join(' ') }];
    }
    if (has('pyproject.toml'))
      return [
        ...venv,
        { argv: ['python3', '-c', PYPROJECT_INSTALL, python], shown: 'pip install <pyproject.toml dependencies>' },
      ];
    throw missing(spec, 'requirements.txt or pyproject.toml', 'python');
  }
  if (spec.deps === 'node') {
    if (!has('package-lock.json') && !has('npm-shrinkwrap.json'))
      throw missing(spec, 'package-lock.json (or npm-shrinkwrap.json)', 'node');
    return [{ argv: ['npm', 'ci'], shown: 'npm ci' }];
  }
  return [];
}

/**
 * The variables of a build, instance, hook or cron job of a service with dependencies: its
 * .venv/bin (or node_modules/.bin) first on PATH, and VIRTUAL_ENV. `cwd` is the service's cwd in its release.
 */
export function depsEnv<T extends { PATH: string }>(base: T, spec: ServiceSpec, cwd: string): T {
  if (spec.deps === 'python') {
    const venv = path.join(cwd, VENV_DIR);
    return { ...base, PATH: `${venv}/bin:${base.PATH}`, VIRTUAL_ENV: venv };
  }
  if (spec.deps === 'node') return { ...base, PATH: `${path.join(cwd, 'node_modules', '.bin')}:${base.PATH}` };
  return base;
}

function isFile(p: string): boolean {
  try {
    return lstatSync(p).isFile();
  } catch {
    return false;
  }
}

function missing(spec: ServiceSpec, what: string, kind: string): BerthError {
  return new BerthError(
    'invalid',
    'deps_missing',
    `service "${spec.name}": deps is ${kind}, but its cwd (${spec.cwd}) has no ${what}`,
    { hint: `add it, or set services.${spec.name}.deps to none in berth.yaml` },
  );
}

/**
 * pip's and npm's caches: the environment's own, kept between releases outside them (in its home under
 * `root`: its user's alone, 0700), so a rebuild downloads nothing it has fetched before.
 */
export function packageCaches(
  root: string,
  app: string,
  env: string,
  ids: UnixIds | undefined,
): Record<string, string> {
  const home = path.join(root, 'homes', app, env);
  if (!ids) mkdirSync(home, { recursive: true, mode: 0o700 });
  return {
    PIP_CACHE_DIR: path.join(home, '.cache', 'pip'),
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    npm_config_cache: path.join(home, '.npm'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
  };
}
