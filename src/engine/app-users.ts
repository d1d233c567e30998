import { mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { chownPath, chownTree } from '../system/safe-tree.js';
import { deleteSystemUser, ensureSystemUser, type UnixIds } from '../system/users.js';
import type { HomeLayout } from '../system/paths.js';

/** chown + chmod of `p` alone, through a descriptor opened without following a link (a link gets only its own owner). */
function setOwner(p: string, uid: number, gid: number, mode: (current: number, dir: boolean) => number): void {
  chownPath(p, { uid, gid, mode });
}

/**
 * One system user per app (`berth-<app>`) when berthd runs as root: the app's builds and
 * instances run as it. Directories are laid out so that berthd (root) never acts on a path
 * the app could have swapped for a symlink: BERTH_HOME, its top directories and each app's
 * directories in them are root's (0711: traversable, not listable); the app owns only its
 * leaves: each environment's data dir (0700), its log files (0640), its home, and a release
 * while it builds. A built release is sealed: root's, readable by the app's group only (0750),
 * so a running app cannot plant anything in what the proxy or Caddy serve.
 */
export class AppUsers {
  readonly enabled: boolean;
  readonly #layout: HomeLayout;

  constructor(layout: HomeLayout, enabled: boolean) {
    this.#layout = layout;
    this.enabled = enabled;
  }

  /**
   * One user per app and environment: `berth-<app>` for production, `berth-<app>-<env>` for
   * the others (a preview runs feature-branch code: it must not reach production's data,
   * logs or environ). Linux names have at most 32 characters: long ones keep a hash of the whole.
   */
  static userName(app: string, env: string = 'production'): string {
    const whole = env === 'production' ? app : `${app}-${env}`;
    const name = `berth-${whole}`;
    return name.length <= 32
      ? name
      : `berth-${whole.slice(0, 17)}-${createHash('sha256').update(whole).digest('hex').slice(0, 8)}`;
  }

  /** The environment's writable home (npm, pip caches), when it has a user. */
  home(app: string, env: string): string {
    return path.join(this.#layout.root, 'homes', app, env);
  }

  /** The environment's user (made on first use) with its root-owned directories in place; undefined when apps run as berthd's user. */
  async ids(app: string, env: string): Promise<UnixIds | undefined> {
    if (!this.enabled) return undefined;
    const root = this.#layout.root;
    const tops = [root, ...['releases', 'data', 'logs', 'homes'].map((d) => path.join(root, d))];
    const apps = [
      path.join(root, 'releases', app),
      this.#layout.appDataRoot(app),
      this.#layout.appLogRoot(app),
      path.join(root, 'homes', app),
    ];
    for (const dir of [...tops, ...apps]) {
      mkdirSync(dir, { recursive: true, mode: 0o711 });
      setOwner(dir, 0, 0, () => 0o711);
    }
    const ids = await ensureSystemUser(AppUsers.userName(app, env));
    this.leaf(ids, this.home(app, env), 0o700);
    return ids;
  }

  /**
   * Moves a tree another user wrote (a copy made as the source environment's user) to this
   * user: taken by root top-down first (so its writer can change nothing from then on), then
   * given away bottom-up (so the new owner sees it only once it is all theirs).
   */
  transfer(ids: UnixIds | undefined, dir: string): void {
    if (!ids) return;
    this.reclaim(dir);
    this.giveForBuild(ids, dir);
    setOwner(dir, ids.uid, ids.gid, () => 0o700);
  }

  /** Directories berthd keeps for itself inside the app's (an environment's releases and logs): root's, 0711. */
  rootDirs(ids: UnixIds | undefined, dirs: readonly string[]): void {
    if (!ids) return;
    for (const dir of dirs) {
      mkdirSync(dir, { recursive: true, mode: 0o711 });
      setOwner(dir, 0, 0, () => 0o711);
    }
  }

  /** A directory of the app's own (an environment's data dir, its home), inside a root-owned one. */
  leaf(ids: UnixIds | undefined, dir: string, mode: number): void {
    if (!ids) return;
    mkdirSync(dir, { recursive: true, mode });
    setOwner(dir, ids.uid, ids.gid, () => mode);
  }

  /** A file berthd made for the app in a root-owned directory (a log), given to it. */
  ownFile(ids: UnixIds | undefined, file: string, mode: number): void {
    if (ids) setOwner(file, ids.uid, ids.gid, () => mode);
  }

  /** A fresh release (made by root, closed) handed to the app's user to build in: children first, its top last. */
  giveForBuild(ids: UnixIds | undefined, dir: string): void {
    if (!ids) return;
    chownTree(dir, { uid: ids.uid, gid: ids.gid, mode: (m, _dir, top) => (top ? 0o750 : m), order: 'post' });
  }

  /**
   * Seals a release: root's, group the app's, group may read (and enter, and execute what
   * its owner could), others nothing at its top. Top-down, each directory taken before its
   * entries are read, so a process of the app cannot change an entry once it is looked at.
   */
  seal(ids: UnixIds | undefined, dir: string): void {
    if (!ids) return;
    chownTree(dir, {
      uid: 0,
      gid: ids.gid,
      mode: (m, isDir, top) =>
        (isDir ? (m & 0o755) | 0o050 : (m & 0o755) | 0o040 | (m & 0o100 ? 0o010 : 0)) & (top ? 0o750 : 0o7777),
      order: 'pre',
    });
  }

  /**
   * Takes a tree an app user could write back for root, top-down (each directory before its
   * entries are read), so no process of that user can change it from then on: what berthd
   * removes or hands on afterwards is what it looked at. Links are taken themselves, never
   * followed (see safe-tree). Does nothing when apps have no users.
   */
  reclaim(dir: string): void {
    if (!this.enabled) return;
    chownTree(dir, { uid: 0, gid: 0, mode: (m, isDir) => (isDir ? 0o700 : m & 0o700), order: 'pre' });
  }

  /**
   * Removes the users of these environments of the app; with app users off, berthd as root,
   * those made for its managed databases alone (see engine/databases), when there are any.
   */
  async remove(app: string, envs: readonly string[]): Promise<void> {
    if (!this.enabled && process.getuid?.() !== 0) return;
    for (const env of new Set(envs)) await deleteSystemUser(AppUsers.userName(app, env));
  }
}
