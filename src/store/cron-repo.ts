import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export type CronRunStatus = 'running' | 'succeeded' | 'failed' | 'skipped' | 'unknown';

export interface CronRunRow {
  readonly id: number;
  readonly environmentId: number;
  readonly job: string;
  readonly dueAt: number;
  readonly release: number;
  readonly status: CronRunStatus;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly pid: number | null;
  readonly startTicks: string | null;
  readonly note: string | null;
}

export interface CronRunPatch {
  status?: CronRunStatus;
  finished_at?: number | null;
  exit_code?: number | null;
  signal?: string | null;
  pid?: number | null;
  start_ticks?: string | null;
  note?: string | null;
}

/** Runs kept per job and environment; older ones are pruned as new ones finish. */
const KEEP_RUNS = 100;

/** Runs of `cron:` jobs: each claimed before it starts, once per job, environment and due minute. */
export class CronRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  #select() {
    return this.#db
      .selectFrom('cron_runs')
      .select([
        'id',
        'environment_id as environmentId',
        'job',
        'due_at as dueAt',
        'release',
        'status',
        'started_at as startedAt',
        'finished_at as finishedAt',
        'exit_code as exitCode',
        'signal',
        'pid',
        'start_ticks as startTicks',
        'note',
      ]);
  }

  /**
   * Claims the run of `job` due at `dueAt`: its id, or undefined when that run was claimed
   * before (by this berthd or one before it): then it must not start again.
   */
  async claim(r: {
    environmentId: number;
    job: string;
    dueAt: number;
    release: number;
    status: CronRunStatus;
    at: number;
    note?: string | undefined;
  }): Promise<number | undefined> {
    const row = await this.#db
      .insertInto('cron_runs')
      .values({
        environment_id: r.environmentId,
        job: r.job,
        due_at: r.dueAt,
        release: r.release,
        status: r.status,
        started_at: r.at,
        finished_at: r.status === 'running' ? null : r.at,
        note: r.note ?? null,
      })
      .onConflict((oc) => oc.columns(['environment_id', 'job', 'due_at']).doNothing())
      .returning('id')
      .executeTakeFirst();
    return row?.id;
  }

  async update(id: number, patch: CronRunPatch): Promise<void> {
    await this.#db.updateTable('cron_runs').set(patch).where('id', '=', id).execute();
  }

  async get(id: number): Promise<CronRunRow | undefined> {
    return this.#select().where('id', '=', id).executeTakeFirst() as Promise<CronRunRow | undefined>;
  }

  /** Runs still marked running (of one job and environment, or all). */
  async running(environmentId?: number, job?: string): Promise<CronRunRow[]> {
    let q = this.#select().where('status', '=', 'running');
    if (environmentId !== undefined) q = q.where('environment_id', '=', environmentId);
    if (job !== undefined) q = q.where('job', '=', job);
    return q.orderBy('id').execute() as Promise<CronRunRow[]>;
  }

  /** The newest runs of an environment's jobs, newest first. */
  async recent(environmentId: number, job: string, limit: number): Promise<CronRunRow[]> {
    return this.#select()
      .where('environment_id', '=', environmentId)
      .where('job', '=', job)
      .orderBy('due_at', 'desc')
      .limit(limit)
      .execute() as Promise<CronRunRow[]>;
  }

  /** Forgets all but the newest KEEP_RUNS runs of a job in an environment. */
  async prune(environmentId: number, job: string): Promise<void> {
    const keep = this.#db
      .selectFrom('cron_runs')
      .select('id')
      .where('environment_id', '=', environmentId)
      .where('job', '=', job)
      .orderBy('due_at', 'desc')
      .limit(KEEP_RUNS);
    await this.#db
      .deleteFrom('cron_runs')
      .where('environment_id', '=', environmentId)
      .where('job', '=', job)
      .where('id', 'not in', keep)
      .execute();
  }
}
