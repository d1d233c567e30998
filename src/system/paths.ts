import { lstatSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { BerthError } from '../core/errors.js';
import { assertName, type NameKind } from '../core/names.js';

/**
 * The state directory. `BERTH_HOME` wins; otherwise `/var/lib/berth` for root and
 * `~/.local/share/berth` for everyone else (XDG_DATA_HOME is honoured).
 */
export function berthHome(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.BERTH_HOME;
  if (explicit !== undefined && explicit !== '') return path.resolve(explicit);
  if (process.getuid?.() === 0) return '/var/lib/berth';
  const dataHome =
    env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME)
      ? env.XDG_DATA_HOME
      : path.join(homedir(), '.local', 'share');
  return path.join(dataHome, 'berth');
}

/**
 * Joins `parts` under `root` and proves the result stays inside it. Used for every path
 * derived from user input; a part that escapes (`..`, an absolute path) is an error.
 */
export function resolveUnder(root: string, ...parts: string[]): string {
  const base = path.resolve(root);
  const full = path.resolve(base, ...parts);
  if (full !== base && !full.startsWith(base + path.sep)) {
    throw new BerthError('invalid', 'path_escape', `path ${JSON.stringify(parts.join('/'))} escapes its root ${base}`, {
      hint: 'use a relative path that stays inside the directory',
    });
  }
  return full;
}

/** A path made of validated names only, e.g. data/<app>/<env>/<service>. */
export function namedPath(root: string, ...names: Array<[NameKind, string]>): string {
  return resolveUnder(root, ...names.map(([kind, value]) => assertName(kind, value)));
}

/** Where everything of one BERTH_HOME lives. */
export class HomeLayout {
  readonly root: string;
  constructor(root: string) {
    this.root = path.resolve(root);
  }
  get socket(): string {
    return path.join(this.root, 'berthd.sock');
  }
  get store(): string {
    return path.join(this.root, 'berth.db');
  }
  get pidFile(): string {
    return path.join(this.root, 'berthd.pid');
  }
  get daemonLog(): string {
    return path.join(this.root, 'berthd.log');
  }
  get settings(): string {
    return path.join(this.root, 'config.yaml');
  }
  /** The metrics history's last hour (src/metrics/history-file.ts), kept across restarts of berthd. */
  get metricsHistory(): string {
    return path.join(this.root, 'metrics-history');
  }
  logDir(app: string, env: string): string {
    return namedPath(path.join(this.root, 'logs'), ['app', app], ['environment', env]);
  }
  /** `$DATA_DIR`: one per environment, shared by its services, kept across releases. */
  dataDir(app: string, env: string): string {
    return namedPath(path.join(this.root, 'data'), ['app', app], ['environment', env]);
  }
  appDataRoot(app: string): string {
    return namedPath(path.join(this.root, 'data'), ['app', app]);
  }
  appLogRoot(app: string): string {
    return namedPath(path.join(this.root, 'logs'), ['app', app]);
  }
  releasesDir(app: string, env: string): string {
    return namedPath(path.join(this.root, 'releases'), ['app', app], ['environment', env]);
  }
}

/** Whether `p` names a directory entry: the entry itself (lstat), so a link counts, even a dangling one, and is never followed. */
export function entryExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
