import type { BackupResult, BackupView } from '../../core/backup-results.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_BACKUP, type BackupSpec } from '../../config/manifest-basics.js';
import type { Manifest } from '../../config/manifest-types.js';
import { storedManifest } from '../../config/stored-manifest.js';
import { BerthError, describe } from '../../core/errors.js';
import type { EnvironmentRow } from '../../store/apps-repo.js';
import type { Store } from '../../store/store.js';
import type { HomeLayout } from '../../system/paths.js';
import { removeTree } from '../../system/safe-tree.js';
import { KeyedLock } from '../keyed-lock.js';
import type { Notification } from '../notifier.js';
import { localPasswordFile, Restic } from './restic.js';
import type { DatabaseInstances } from '../databases/database-instances.js';
import { databaseStores, environmentDatabases, type DumpContext } from './database-stores.js';
import { dataDirStores, dumpKind, storeDir, type DumpInfo } from './stores.js';
import { treeStats } from './tree-copy.js';

/** The record a snapshot carries about itself, at its top. */
export const SNAPSHOT_INDEX = 'berth-backup.json';

export interface SnapshotIndex {
  readonly app: string;
  readonly env: string;
  readonly release: number | null;
  readonly stores: readonly DumpInfo[];
}

export interface BackupDeps {
  readonly store: Store;
  readonly layout: HomeLayout;
  readonly log: Logger;
  /** The app's secrets for an environment (RESTIC_PASSWORD and AWS_* of a remote repository). */
  readonly secretEnv: (app: string, env: string) => Promise<Record<string, string>>;
  /** Tells the app's `notify:` URLs (the Notifier). */
  readonly notify?: (urls: readonly string[], n: Notification) => Promise<void>;
  /** Redacts an app's secrets out of a message. */
  readonly redact?: (app: string, text: string) => string;
  /** The managed databases (InstanceManager.databases): dumped, verified and restored with their own tools. */
  readonly databases?: DatabaseInstances;
}

/**
 * Backups of environments with restic: every store of the environment dumped into a staging
 * directory while the app runs (consistent per store), backed up with tags app/env/release,
 * then proven restorable (restic check, the snapshot restored into a scratch directory and
 * each store's dump verified there) before it is marked verified; retention applied after.
 * A backup that fails or cannot be verified is an event and a notification, never a success.
 * One repository per app (under BERTH_HOME/backups/<app>/repo unless `to:` names one); each
 * environment is its own restic host there, so retention applies per environment.
 */
export class Backups {
  readonly #d: BackupDeps;
  readonly #lock = new KeyedLock<string>();

  constructor(deps: BackupDeps) {
    this.#d = deps;
  }

  appDir(app: string): string {
    return path.join(this.#d.layout.root, 'backups', app);
  }

  workDir(app: string, env: string): string {
    return path.join(this.appDir(app), 'work', env);
  }

  static host(app: string, env: string): string {
    return `${env}.${app}`;
  }

  async environment(app: string, env: string): Promise<EnvironmentRow> {
    const row = (await this.#d.store.apps.environments({ app, env }))[0];
    if (!row)
      throw new BerthError('not_found', 'environment_not_found', `app "${app}" has no environment "${env}"`, {
        hint: 'see `berth env ls <app>`; choose one with --env',
      });
    return row;
  }

  async manifest(env: EnvironmentRow): Promise<Manifest | undefined> {
    if (env.currentReleaseId === null) return undefined;
    const r = await this.#d.store.releases.get(env.currentReleaseId);
    return r ? storedManifest(r.manifest) : undefined;
  }

  async spec(env: EnvironmentRow): Promise<BackupSpec> {
    return (await this.manifest(env))?.backup ?? DEFAULT_BACKUP;
  }

  /** The app's repository as `spec.to` names it. */
  async restic(app: string, env: string, spec: BackupSpec): Promise<Restic> {
    const cacheDir = path.join(this.#d.layout.root, 'backups', '.cache');
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    if (spec.to === 'local')
      return new Restic({
        url: path.join(this.appDir(app), 'repo'),
        env: { RESTIC_PASSWORD_FILE: localPasswordFile(this.appDir(app)) },
        cacheDir,
      });
    const secrets = await this.#d.secretEnv(app, env);
    if (!secrets.RESTIC_PASSWORD)
      throw new BerthError(
        'invalid',
        'backup_password_missing',
        `backups of ${app} go to ${spec.to.split(':')[0]}: and need the secret RESTIC_PASSWORD`,
        {
          hint: `berth secrets set ${app} RESTIC_PASSWORD   (the repository's password; kept sealed, never printed)`,
        },
      );
    const keys = ['RESTIC_PASSWORD', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_DEFAULT_REGION'];
    const env2 = Object.fromEntries(keys.filter((k) => secrets[k] !== undefined).map((k) => [k, secrets[k] as string]));
    return new Restic({ url: spec.to, env: env2, cacheDir });
  }

  /**
   * Backs up one environment now (or the scheduled run due at `dueAt`, claimed once: undefined
   * when it was claimed before). Runs of one environment queue behind each other.
   */
  async run(app: string, env: string, dueAt: number | null = null): Promise<BackupResult | undefined> {
    const row = await this.environment(app, env);
    return this.#lock.run(`${app}/${env}`, async () => {
      const id = await this.#d.store.backups.claim(row.id, dueAt, Date.now());
      if (id === undefined) return undefined;
      const manifest = await this.manifest(row);
      const result = await this.#take(row, id, manifest);
      await this.#finish(row, id, result, manifest);
      return result;
    });
  }

  async #take(row: EnvironmentRow, id: number, manifest: Manifest | undefined): Promise<BackupResult> {
    const { app, name: env } = row;
    const out = { app, env, snapshot: null as string | null, size: null as number | null, holds: [] as string[] };
    const work = this.workDir(app, env);
    const staging = path.join(work, 'staging');
    const scratch = path.join(work, 'verify');
    try {
      const spec = manifest?.backup ?? DEFAULT_BACKUP;
      const restic = await this.restic(app, env, spec);
      removeTree(staging);
      removeTree(scratch);
      mkdirSync(staging, { recursive: true, mode: 0o700 });
      const release = manifest
        ? ((await this.#d.store.releases.get(row.currentReleaseId ?? -1))?.number ?? null)
        : null;
      const index: SnapshotIndex = { app, env, release, stores: await this.#dump(row, staging, manifest) };
      writeFileSync(path.join(staging, SNAPSHOT_INDEX), JSON.stringify(index, null, 2), { mode: 0o600 });
      out.holds = index.stores.map((s) => s.holds);
      out.size = treeStats(staging).bytes;
      await restic.ensure();
      const tags = [`app=${app}`, `env=${env}`, ...(release !== null ? [`release=${release}`] : [])];
      out.snapshot = await restic.backup(staging, Backups.host(app, env), tags);
      await this.#d.store.backups.update(id, {
        snapshot: out.snapshot,
        release,
        size: out.size,
        holds: JSON.stringify(out.holds),
      });
      const verification = await this.verify(restic, out.snapshot, scratch, index);
      await restic.forget(Backups.host(app, env), spec.keep).catch((err: unknown) => {
        verification.push(`retention not applied: ${describe(err)}`);
      });
      return { ...out, status: 'verified', verification };
    } catch (err) {
      return { ...out, status: 'failed', verification: [], error: describe(err) };
    } finally {
      removeTree(staging);
      removeTree(scratch);
    }
  }

  async #dump(row: EnvironmentRow, staging: string, manifest: Manifest | undefined): Promise<DumpInfo[]> {
    const databases = await databaseStores(manifest, this.dumpContext(row.app, row.name));
    const { stores, close } = dataDirStores(this.#d.layout.dataDir(row.app, row.name));
    try {
      const infos: DumpInfo[] = [];
      for (const s of [...databases, ...stores]) {
        const dir = storeDir(staging, { store: s.name });
        mkdirSync(dir, { mode: 0o700 });
        infos.push(await s.dump(dir));
      }
      return infos;
    } finally {
      close();
    }
  }

  /**
   * Proves a snapshot restorable: restic checks the repository and reads the snapshot back
   * into `scratch`, where every store's dump is verified against what the dump recorded.
   */
  async verify(restic: Restic, snapshot: string, scratch: string, index: SnapshotIndex): Promise<string[]> {
    await restic.check('1/20');
    const root = await this.restoreSnapshot(
      restic,
      snapshot,
      scratch,
      path.join(this.workDir(index.app, index.env), 'staging'),
    );
    const back = JSON.parse(readFileSync(path.join(root, SNAPSHOT_INDEX), 'utf8')) as SnapshotIndex;
    const lines = ['restic check: ok', `snapshot ${snapshot} restored into a scratch directory`];
    for (const info of index.stores) {
      const found = back.stores.find((s) => s.store === info.store);
      if (!found) throw new BerthError('failed', 'backup_unverified', `${info.store}: missing from the snapshot`);
      lines.push(await dumpKind(info).verify(storeDir(root, info), info, this.dumpContext(index.app, index.env)));
    }
    return lines;
  }

  /** The environment's running databases, as a backup dumps them and a restore verifies and rebuilds them. */
  dumpContext(app: string, env: string): DumpContext {
    return environmentDatabases(this.#d.databases, app, env);
  }

  /** Restores a snapshot into `target` (made empty first): the directory its index and dumps are in. */
  async restoreSnapshot(restic: Restic, snapshot: string, target: string, taken?: string): Promise<string> {
    removeTree(target);
    mkdirSync(target, { recursive: true, mode: 0o700 });
    await restic.restore(snapshot, target);
    taken ??= (await restic.snapshot(snapshot))?.paths[0];
    if (!taken || !path.isAbsolute(taken) || path.normalize(taken) !== taken || taken.includes('\0'))
      throw new BerthError('failed', 'backup_unverified', `snapshot ${snapshot} records no usable path (${taken})`);
    return path.join(target, taken);
  }

  /** An environment's backups, newest first; those retention removed from the repository are forgotten here too. */
  async list(app: string, env: string): Promise<BackupView[]> {
    const row = await this.environment(app, env);
    let rows = await this.#d.store.backups.list(row.id);
    const restic = await this.restic(app, env, await this.spec(row));
    const present = new Set((await restic.snapshots(Backups.host(app, env)).catch(() => undefined))?.map((s) => s.id));
    if (present.size > 0) {
      const gone = rows.filter(
        (r) => r.status === 'verified' && r.snapshot && ![...present].some((p) => p.startsWith(r.snapshot as string)),
      );
      await this.#d.store.backups.forget(gone.map((r) => r.id));
      rows = rows.filter((r) => !gone.includes(r));
    }
    return rows.map((r) => ({
      snapshot: r.snapshot,
      time: r.startedAt,
      size: r.size,
      status: r.status,
      verified: r.status === 'verified',
      scheduled: r.dueAt !== null,
      holds: r.holds ? (JSON.parse(r.holds) as string[]) : [],
      ...(r.error ? { error: r.error } : {}),
    }));
  }

  async #finish(row: EnvironmentRow, id: number, r: BackupResult, manifest: Manifest | undefined): Promise<void> {
    const { store, log } = this.#d;
    const error = r.error && (this.#d.redact?.(row.app, r.error) ?? r.error);
    await store.backups.update(id, { status: r.status, error: error ?? null, finished_at: Date.now() });
    const message =
      r.status === 'verified'
        ? `backup ${r.snapshot} verified (${r.holds.join('; ')})`
        : `backup failed${r.snapshot ? ` (snapshot ${r.snapshot} not verified)` : ''}: ${error}`;
    await store.events.append({
      at: Date.now(),
      app: row.app,
      environment: row.name,
      service: null,
      kind: r.status === 'verified' ? 'backup.verified' : 'backup.failed',
      message,
    });
    log[r.status === 'verified' ? 'info' : 'error']({ app: row.app, env: row.name }, message);
    if (r.status === 'failed' && manifest?.notify.length)
      await this.#d.notify?.(manifest.notify, {
        app: row.app,
        env: row.name,
        kind: 'backup',
        status: 'failed',
        release: null,
        error: message,
      });
  }
}

export type { BackupResult, BackupView };
