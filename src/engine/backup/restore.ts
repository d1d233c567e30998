import type { RestoreResult, RestoreStep } from '../../core/backup-results.js';
import { lstatSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ServiceSpec } from '../../config/manifest-types.js';
import { BerthError, describe } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import type { HomeLayout } from '../../system/paths.js';
import { removeTree } from '../../system/safe-tree.js';
import { instanceWaves } from '../apps.js';
import { isDatabase } from '../databases/connection.js';
import type { AppUsers } from '../app-users.js';
import type { EnvironmentLocks } from '../environment-locks.js';
import type { InstanceManager } from '../instance-manager.js';
import { Backups, SNAPSHOT_INDEX, type SnapshotIndex } from './backups.js';
import { dumpKind, storeDir } from './stores.js';

type Step = RestoreStep;
const STEPS: readonly Step[] = ['fetch', 'stop', 'swap', 'start', 'commit'];

/** A restore's journal: written before each step acts and after; what recovery reads. */
interface RestoreJournal {
  readonly app: string;
  readonly env: string;
  readonly snapshot: string;
  readonly dataDir: string;
  /** The current data, moved aside while the restore runs; removed at commit, put back by any undo. */
  readonly aside: string;
  /** The restored data, built here before it replaces the current. */
  readonly incoming: string;
  readonly scratch: string;
  /** The instances that ran (stopped by `stop`, started again by `start` or by its undo). */
  ran: number[];
  steps: { name: Step; status: 'pending' | 'running' | 'done' | 'undone' | 'failed' }[];
}

export interface RestoreDeps {
  readonly store: Store;
  readonly layout: HomeLayout;
  readonly backups: Backups;
  readonly instances: InstanceManager;
  readonly locks: EnvironmentLocks;
  readonly routesChanged: () => Promise<void>;
  readonly log: Logger;
  readonly users?: AppUsers | undefined;
}

/**
 * `berth backup restore`: a journaled transaction. fetch (the snapshot restored and verified
 * into a scratch directory, the new data dir built from its dumps, while the app still runs),
 * stop (the environment's running instances), swap (current data aside, the restored in its
 * place: two renames), start (health-gated), commit (the old data removed). Any failure undoes
 * in reverse: the old data back, what ran started again. A berthd killed in it finishes the
 * commit at its next start if the commit had begun, and undoes the rest otherwise: either the
 * old or the restored data serves, never a mix, and nothing stays aside.
 */
export class Restores {
  readonly #d: RestoreDeps;
  constructor(deps: RestoreDeps) {
    this.#d = deps;
  }

  async restore(app: string, env: string, snapshot: string): Promise<RestoreResult> {
    if (!/^[0-9a-f]{8,64}$/.test(snapshot))
      throw new BerthError('invalid', 'bad_snapshot', `"${snapshot}" is not a snapshot id`, {
        hint: `see \`berth backup ls ${app} --env ${env}\``,
      });
    const row = await this.#d.backups.environment(app, env);
    return this.#d.locks.run(app, env, { wait: false, what: `berth backup restore ${app}` }, async () => {
      const dataDir = this.#d.layout.dataDir(app, env);
      const work = this.#d.backups.workDir(app, env);
      const j: RestoreJournal = {
        app,
        env,
        snapshot,
        dataDir,
        aside: path.join(path.dirname(dataDir), `.${env}.restore-aside`),
        incoming: path.join(path.dirname(dataDir), `.${env}.restore-incoming`),
        scratch: path.join(work, 'restore'),
        ran: [],
        steps: STEPS.map((name) => ({ name, status: 'pending' })),
      };
      const id = await this.#d.store.backups.startRestore(row.id, snapshot, JSON.stringify(j), Date.now());
      return this.#run(id, j);
    });
  }

  async #save(id: number, j: RestoreJournal, patch: { status?: 'done' | 'failed'; error?: string } = {}) {
    await this.#d.store.backups.updateRestore(id, {
      journal: JSON.stringify(j),
      ...(patch.status ? { status: patch.status, finished_at: Date.now(), error: patch.error ?? null } : {}),
    });
  }

  async #run(id: number, j: RestoreJournal): Promise<RestoreResult> {
    const restored: string[] = [];
    for (const [i, step] of j.steps.entries()) {
      step.status = 'running';
      await this.#save(id, j);
      crashPoint(i, 'before');
      try {
        await this.#act(step.name, j, restored);
        step.status = 'done';
      } catch (err) {
        step.status = 'failed';
        let error = `${step.name}: ${describe(err)}`;
        if (step.name === 'commit') error += ' (the restored data serves; the old data stays at ' + j.aside + ')';
        else error = await this.#undo(j, error);
        await this.#save(id, j, { status: 'failed', error });
        await this.#event(j, 'restore.failed', `restore of ${j.snapshot} failed: ${error}`);
        return { app: j.app, env: j.env, snapshot: j.snapshot, status: 'failed', steps: j.steps, restored, error };
      }
      await this.#save(id, j);
      crashPoint(i, 'after');
    }
    await this.#save(id, j, { status: 'done' });
    await this.#event(j, 'restore.done', `restored snapshot ${j.snapshot} (${restored.join('; ')})`);
    return { app: j.app, env: j.env, snapshot: j.snapshot, status: 'done', steps: j.steps, restored };
  }

  async #act(step: Step, j: RestoreJournal, restored: string[]): Promise<void> {
    const { instances } = this.#d;
    switch (step) {
      case 'fetch': {
        const row = await this.#d.backups.environment(j.app, j.env);
        const restic = await this.#d.backups.restic(j.app, j.env, await this.#d.backups.spec(row));
        const snap = await restic.snapshot(j.snapshot);
        if (!snap || snap.hostname !== Backups.host(j.app, j.env))
          throw new BerthError('not_found', 'snapshot_not_found', `no snapshot ${j.snapshot} of ${j.app}/${j.env}`, {
            hint: `see \`berth backup ls ${j.app} --env ${j.env}\``,
          });
        const root = await this.#d.backups.restoreSnapshot(restic, j.snapshot, j.scratch, snap.paths[0]);
        const index = JSON.parse(readFileSync(path.join(root, SNAPSHOT_INDEX), 'utf8')) as SnapshotIndex;
        removeTree(j.incoming);
        mkdirSync(j.incoming, { mode: 0o700 });
        // Plain files first: a database's file then replaces nothing.
        const ctx = this.#d.backups.dumpContext(j.app, j.env);
        for (const info of [...index.stores].sort((a, b) => (a.kind === 'files' ? -1 : b.kind === 'files' ? 1 : 0))) {
          restored.push(await dumpKind(info).verify(storeDir(root, info), info, ctx));
          await dumpKind(info).restore(storeDir(root, info), info, { dataDir: j.incoming }, ctx);
        }
        const ids = await this.#d.users?.ids(j.app, j.env);
        this.#d.users?.transfer(ids, j.incoming);
        return;
      }
      case 'stop': {
        const all = (await this.#d.store.instances.list({ app: j.app, env: j.env })).filter(
          (v) => v.current && v.desired === 'running',
        );
        j.ran = all.map((v) => v.id);
        for (const wave of instanceWaves(all).reverse()) await Promise.all(wave.map((v) => instances.stop(v.id)));
        return;
      }
      case 'swap':
        this.#d.users?.reclaim(j.dataDir); // nothing of the app writes in it from here on
        if (present(j.dataDir)) renameSync(j.dataDir, j.aside);
        renameSync(j.incoming, j.dataDir);
        return;
      case 'start':
        return this.#start(j.ran);
      case 'commit':
        removeTree(j.aside);
        removeTree(j.scratch);
        return;
    }
  }

  async #start(ids: readonly number[]): Promise<void> {
    const all = (await this.#d.store.instances.list()).filter((v) => ids.includes(v.id));
    for (const wave of instanceWaves(all))
      await Promise.all(
        wave.map(async (v) => {
          const spec = JSON.parse(v.spec) as ServiceSpec;
          await this.#d.instances.start(v.id);
          await this.#d.instances.waitReady(v.id, spec.health.startTimeoutMs + 1000);
          // A restored PostgreSQL: its fresh cluster restores the backup's dump before anything that depends on it starts.
          if (isDatabase(spec))
            await this.#d.instances.databases.restoreSeed(v, spec, (section) =>
              crashPoint(STEPS.indexOf('start'), section),
            );
        }),
      );
    await this.#d.routesChanged();
  }

  /** Undoes the steps that ran, in reverse; returns `error` with what could not be undone appended. */
  async #undo(j: RestoreJournal, error: string): Promise<string> {
    let message = error;
    for (const step of [...j.steps].reverse()) {
      if (step.status === 'pending' || step.status === 'undone') continue;
      try {
        await this.#revert(step.name, j);
        if (step.status !== 'failed') step.status = 'undone';
      } catch (err) {
        message += `; additionally, undoing "${step.name}": ${describe(err)}`;
      }
    }
    return message;
  }

  async #revert(step: Step, j: RestoreJournal): Promise<void> {
    switch (step) {
      case 'fetch':
        removeTree(j.incoming);
        removeTree(j.scratch);
        return;
      case 'stop':
        return this.#start(j.ran);
      case 'swap':
        // The restored data (whole or half-moved) goes; the old comes back. Idempotent: looks at what is there.
        if (present(j.aside)) {
          if (present(j.dataDir)) {
            this.#d.users?.reclaim(j.dataDir);
            removeTree(j.dataDir);
          }
          renameSync(j.aside, j.dataDir);
          // The swap took it for root; back to the environment's user (its databases' files included).
          this.#d.users?.transfer(await this.#d.users.ids(j.app, j.env), j.dataDir);
        }
        return;
      case 'start':
        for (const id of j.ran) await this.#d.instances.stop(id);
        return;
      case 'commit':
        return;
    }
  }

  /** At berthd start: finishes restores whose commit began, undoes the others. */
  async recover(): Promise<void> {
    for (const r of await this.#d.store.backups.runningRestores()) {
      const j = JSON.parse(r.journal) as RestoreJournal;
      const commit = j.steps.find((s) => s.name === 'commit');
      try {
        if (commit && commit.status !== 'pending') {
          removeTree(j.aside);
          removeTree(j.scratch);
          commit.status = 'done';
          await this.#save(r.id, j, { status: 'done' });
          await this.#event(j, 'restore.done', `restored snapshot ${j.snapshot} (finished after a berthd restart)`);
          continue;
        }
        const error = await this.#undo(j, 'berthd stopped during the restore; the previous data is back');
        await this.#save(r.id, j, { status: 'failed', error });
        await this.#event(j, 'restore.failed', `restore of ${j.snapshot} undone: ${error}`);
      } catch (err) {
        this.#d.log.error({ app: j.app, env: j.env, err: describe(err) }, 'restore: recovery failed');
      }
    }
  }

  async #event(j: RestoreJournal, kind: string, message: string): Promise<void> {
    await this.#d.store.events.append({ at: Date.now(), app: j.app, environment: j.env, service: null, kind, message });
    this.#d.log.info({ app: j.app, env: j.env, kind }, message);
  }
}

/**
 * Fault injection for the crash test: BERTH_RESTORE_CRASH_AT="<step index>:<when>" kills berthd
 * there; `when` is before, after, or (in start) a section of a PostgreSQL dump just restored.
 */
function crashPoint(index: number, when: string): void {
  if (process.env.BERTH_RESTORE_CRASH_AT === `${index}:${when}`) process.kill(process.pid, 'SIGKILL');
}

export type { RestoreResult };

/** Whether an entry is there, a link included (never followed: the rename that follows moves the entry itself). */
function present(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}
