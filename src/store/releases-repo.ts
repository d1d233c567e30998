import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface ReleaseRow {
  readonly id: number;
  readonly environmentId: number;
  readonly number: number;
  readonly dir: string;
  /** The normalised Manifest as JSON. */
  readonly manifest: string;
  readonly source: string;
  readonly createdAt: number;
}

/** Releases: immutable snapshots of an app for one environment. */
export class ReleasesRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  #select() {
    return this.#db
      .selectFrom('releases')
      .select([
        'id',
        'environment_id as environmentId',
        'number',
        'dir',
        'manifest',
        'source',
        'created_at as createdAt',
      ]);
  }

  async create(r: Omit<ReleaseRow, 'id'>): Promise<number> {
    const row = await this.#db
      .insertInto('releases')
      .values({
        environment_id: r.environmentId,
        number: r.number,
        dir: r.dir,
        manifest: r.manifest,
        source: r.source,
        created_at: r.createdAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async get(id: number): Promise<ReleaseRow | undefined> {
    return this.#select().where('id', '=', id).executeTakeFirst();
  }

  async byNumber(environmentId: number, number: number): Promise<ReleaseRow | undefined> {
    return this.#select().where('environment_id', '=', environmentId).where('number', '=', number).executeTakeFirst();
  }

  /** Newest first. */
  async list(environmentId: number): Promise<ReleaseRow[]> {
    return this.#select().where('environment_id', '=', environmentId).orderBy('number', 'desc').execute();
  }

  async all(): Promise<ReleaseRow[]> {
    return this.#select().orderBy('id').execute();
  }

  async delete(id: number): Promise<void> {
    await this.#db.deleteFrom('releases').where('id', '=', id).execute();
  }
}
