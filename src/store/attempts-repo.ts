import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface AttemptRow {
  readonly number: number;
  /** 'running' | 'succeeded' | 'failed' | 'interrupted'. */
  readonly status: string;
  readonly error: string | null;
  readonly startedAt: number;
  readonly finishedAt: number | null;
}

/**
 * Every deploy attempt's release number, per app and environment name. Numbers are taken
 * here and never handed out twice: a failed attempt keeps its number (and with it its
 * `build-<n>.log` and `<service>.<i>.r<n>.log`), also when the attempt was the app's first
 * and the app went with it. Rows are kept by name, not by the app's row, for that reason.
 */
export class AttemptsRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The next release number of the environment, recorded as a running attempt. Call inside the deployment's transaction. */
  async take(app: string, env: string, environmentId: number, now: number): Promise<number> {
    const tried = await this.#db
      .selectFrom('release_attempts')
      .select((eb) => eb.fn.max('number').as('n'))
      .where('app', '=', app)
      .where('env', '=', env)
      .executeTakeFirst();
    const kept = await this.#db
      .selectFrom('releases')
      .select((eb) => eb.fn.max('number').as('n'))
      .where('environment_id', '=', environmentId)
      .executeTakeFirst();
    const number = Math.max(Number(tried?.n ?? 0), Number(kept?.n ?? 0)) + 1;
    await this.#db
      .insertInto('release_attempts')
      .values({ app, env, number, status: 'running', error: null, started_at: now, finished_at: null })
      .execute();
    return number;
  }

  async finish(app: string, env: string, number: number, status: string, error: string | null, now: number) {
    await this.#db
      .updateTable('release_attempts')
      .set({ status, error, finished_at: now })
      .where('app', '=', app)
      .where('env', '=', env)
      .where('number', '=', number)
      .execute();
  }

  /** Newest first. */
  async list(app: string, env: string, limit = 50): Promise<AttemptRow[]> {
    return this.#db
      .selectFrom('release_attempts')
      .select(['number', 'status', 'error', 'started_at as startedAt', 'finished_at as finishedAt'])
      .where('app', '=', app)
      .where('env', '=', env)
      .orderBy('number', 'desc')
      .limit(limit)
      .execute();
  }

  /** Forgets an app's attempts (`berth rm --purge`: its logs go too, so its numbers may start again). */
  async forget(app: string): Promise<void> {
    await this.#db.deleteFrom('release_attempts').where('app', '=', app).execute();
  }
}
