import type { Generated, Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface BackupsTable {
  id: Generated<number>;
  environment_id: number;
  /** For a scheduled backup: the minute it was due (claimed once); null for `berth backup run`. */
  due_at: number | null;
  /** 'running' | 'verified' | 'failed'. */
  status: string;
  /** restic's snapshot id, once it was taken. */
  snapshot: string | null;
  release: number | null;
  /** Bytes of the staged dumps. */
  size: number | null;
  /** JSON: the stores it holds and what each held (BackupHolds). */
  holds: string | null;
  error: string | null;
  started_at: number;
  finished_at: number | null;
}

export interface RestoresTable {
  id: Generated<number>;
  environment_id: number;
  snapshot: string;
  /** 'running' | 'done' | 'failed'. */
  status: string;
  /** JSON: the restore's journal (see engine/backup/restore.ts). */
  journal: string;
  error: string | null;
  started_at: number;
  finished_at: number | null;
}

export type BackupStatus = 'running' | 'verified' | 'failed';

export interface BackupRow {
  readonly id: number;
  readonly environmentId: number;
  readonly dueAt: number | null;
  readonly status: BackupStatus;
  readonly snapshot: string | null;
  readonly release: number | null;
  readonly size: number | null;
  readonly holds: string | null;
  readonly error: string | null;
  readonly startedAt: number;
  readonly finishedAt: number | null;
}

export interface RestoreRow {
  readonly id: number;
  readonly environmentId: number;
  readonly snapshot: string;
  readonly status: 'running' | 'done' | 'failed';
  readonly journal: string;
  readonly error: string | null;
}

/** Backups taken (each recorded before it starts) and restores (their journals). */
export class BackupsRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  #select() {
    return this.#db
      .selectFrom('backups')
      .select([
        'id',
        'environment_id as environmentId',
        'due_at as dueAt',
        'status',
        'snapshot',
        'release',
        'size',
        'holds',
        'error',
        'started_at as startedAt',
        'finished_at as finishedAt',
      ]);
  }

  /** Records a backup starting: its id, or undefined when the scheduled run due at `dueAt` was claimed before. */
  async claim(environmentId: number, dueAt: number | null, at: number): Promise<number | undefined> {
    const row = await this.#db
      .insertInto('backups')
      .values({ environment_id: environmentId, due_at: dueAt, status: 'running', started_at: at })
      .onConflict((oc) => oc.columns(['environment_id', 'due_at']).doNothing())
      .returning('id')
      .executeTakeFirst();
    return row?.id;
  }

  async update(
    id: number,
    patch: Partial<Pick<BackupsTable, 'status' | 'snapshot' | 'release' | 'size' | 'holds' | 'error' | 'finished_at'>>,
  ): Promise<void> {
    await this.#db.updateTable('backups').set(patch).where('id', '=', id).execute();
  }

  /** An environment's backups, newest first (all of them with `environmentId` undefined). */
  async list(environmentId?: number): Promise<BackupRow[]> {
    let q = this.#select();
    if (environmentId !== undefined) q = q.where('environment_id', '=', environmentId);
    return q.orderBy('id', 'desc').execute() as Promise<BackupRow[]>;
  }

  /** The newest scheduled backup of an environment (what the scheduler catches up from). */
  async lastScheduled(environmentId: number): Promise<BackupRow | undefined> {
    return this.#select()
      .where('environment_id', '=', environmentId)
      .where('due_at', 'is not', null)
      .orderBy('due_at', 'desc')
      .executeTakeFirst() as Promise<BackupRow | undefined>;
  }

  /** Forgets the records of snapshots no longer in the repository. */
  async forget(ids: readonly number[]): Promise<void> {
    if (ids.length > 0) await this.#db.deleteFrom('backups').where('id', 'in', ids).execute();
  }

  async startRestore(environmentId: number, snapshot: string, journal: string, at: number): Promise<number> {
    const row = await this.#db
      .insertInto('restores')
      .values({ environment_id: environmentId, snapshot, status: 'running', journal, started_at: at })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async updateRestore(
    id: number,
    patch: Partial<Pick<RestoresTable, 'status' | 'journal' | 'error' | 'finished_at'>>,
  ): Promise<void> {
    await this.#db.updateTable('restores').set(patch).where('id', '=', id).execute();
  }

  /** Restores a berthd left running (it was killed in them). */
  async runningRestores(): Promise<RestoreRow[]> {
    return this.#db
      .selectFrom('restores')
      .select(['id', 'environment_id as environmentId', 'snapshot', 'status', 'journal', 'error'])
      .where('status', '=', 'running')
      .orderBy('id')
      .execute() as Promise<RestoreRow[]>;
  }
}
