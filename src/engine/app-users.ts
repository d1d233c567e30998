import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { chownTree, deleteSystemUser, ensureSystemUser, type UnixIds } from '../system/users.js';
import type { HomeLayout } from '../system/paths.js';

/**
 * One system user per app (`berth-<app>`) when berthd runs as root: the app's builds and
 * instances run as it, and its release, data and log directories belong to it with modes
 * that keep other apps out (0750 releases and logs, 0700 data). BERTH_HOME and its top
 * directories are 0711: traversable to reach one's own, nothing listable; the store, the
 * key and the socket stay root's (0600).
 */
export class AppUsers {
  readonly enabled: boolean;
  readonly #layout: HomeLayout;

  constructor(layout: HomeLayout, enabled: boolean) {
    this.#layout = layout;
    this.enabled = enabled;
  }

  /** Linux user names have at most 32 characters: long app names keep a hash of the whole. */
  static userName(app: string): string {
    const name = `berth-${app}`;
    return name.length <= 32 ? name : `berth-${app.slice(0, 17)}-${createHash('sha256').update(app).digest('hex').slice(0, 8)}`;
  }

  /** The app's user (created on first use), or undefined when apps run as berthd's user. */
  async ids(app: string): Promise<UnixIds | undefined> {
    if (!this.enabled) return undefined;
    for (const top of [this.#layout.root, ...['releases', 'data', 'logs'].map((d) => path.join(this.#layout.root, d))]) {
      mkdirSync(top, { recursive: true });
      chmodSync(top, 0o711);
    }
    return ensureSystemUser(AppUsers.userName(app));
  }

  /** Gives the app's directories (each created if missing) to its user, with `mode`. */
  own(ids: UnixIds | undefined, dirs: readonly string[], mode: number, recursive = false): void {
    if (!ids) return;
    for (const dir of dirs) {
      mkdirSync(dir, { recursive: true, mode });
      if (recursive) chownTree(dir, ids);
      else chownSync(dir, ids.uid, ids.gid);
      chmodSync(dir, mode);
    }
  }

  /** A file berthd made for the app (a log), given to its user. */
  ownFile(ids: UnixIds | undefined, file: string, mode: number): void {
    if (!ids || !existsSync(file)) return;
    chownSync(file, ids.uid, ids.gid);
    chmodSync(file, mode);
  }

  async remove(app: string): Promise<void> {
    if (this.enabled) await deleteSystemUser(AppUsers.userName(app));
  }
}
