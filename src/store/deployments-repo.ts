import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface DeploymentRow {
  readonly id: number;
  readonly environmentId: number;
  readonly releaseId: number | null;
  readonly kind: string;
  readonly status: string;
  /** The journal as JSON. */
  readonly steps: string;
  readonly error: string | null;
  readonly startedAt: number;
  readonly finishedAt: number | null;
}

export type DeploymentPatch = Partial<{
  release_id: number | null;
  status: string;
  steps: string;
  error: string | null;
  finished_at: number | null;
}>;

/** Deployments: one attempt each to make a release current, with its journal. */
export class DeploymentsRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  #select() {
    return this.#db
      .selectFrom('deployments')
      .select([
        'id',
        'environment_id as environmentId',
        'release_id as releaseId',
        'kind',
        'status',
        'steps',
        'error',
        'started_at as startedAt',
        'finished_at as finishedAt',
      ]);
  }

  async create(environmentId: number, kind: string, steps: string, now: number): Promise<number> {
    const r = await this.#db
      .insertInto('deployments')
      .values({
        environment_id: environmentId,
        release_id: null,
        kind,
        status: 'running',
        steps,
        error: null,
        started_at: now,
        finished_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async update(id: number, patch: DeploymentPatch): Promise<void> {
    await this.#db.updateTable('deployments').set(patch).where('id', '=', id).execute();
  }

  async get(id: number): Promise<DeploymentRow | undefined> {
    return this.#select().where('id', '=', id).executeTakeFirst();
  }

  async running(environmentId?: number): Promise<DeploymentRow[]> {
    let q = this.#select().where('status', '=', 'running');
    if (environmentId !== undefined) q = q.where('environment_id', '=', environmentId);
    return q.orderBy('id').execute();
  }

  /** Newest first. */
  async list(environmentId: number, limit = 50): Promise<DeploymentRow[]> {
    return this.#select().where('environment_id', '=', environmentId).orderBy('id', 'desc').limit(limit).execute();
  }
}
