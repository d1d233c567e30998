import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface AppRow {
  readonly id: number;
  readonly name: string;
  readonly sourceDir: string;
  readonly manifestFile: string;
}

export interface ServiceRow {
  readonly id: number;
  readonly environmentId: number;
  readonly name: string;
  readonly spec: string;
}

/** Apps, their environments and their services. */
export class AppsRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async find(name: string): Promise<AppRow | undefined> {
    const r = await this.#db.selectFrom('apps').selectAll().where('name', '=', name).executeTakeFirst();
    return r && { id: r.id, name: r.name, sourceDir: r.source_dir, manifestFile: r.manifest_file };
  }

  async names(): Promise<string[]> {
    return (await this.#db.selectFrom('apps').select('name').orderBy('name').execute()).map((r) => r.name);
  }

  /** Creates or updates the app row and returns its id. */
  async upsert(name: string, sourceDir: string, manifestFile: string, now: number): Promise<number> {
    const existing = await this.find(name);
    if (existing) {
      await this.#db.updateTable('apps').set({ source_dir: sourceDir, manifest_file: manifestFile, updated_at: now }).where('id', '=', existing.id).execute();
      return existing.id;
    }
    const r = await this.#db
      .insertInto('apps')
      .values({ name, source_dir: sourceDir, manifest_file: manifestFile, created_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async environmentId(appId: number, name: string, now: number): Promise<number> {
    const r = await this.#db.selectFrom('environments').select('id').where('app_id', '=', appId).where('name', '=', name).executeTakeFirst();
    if (r) return r.id;
    return (await this.#db.insertInto('environments').values({ app_id: appId, name, created_at: now }).returning('id').executeTakeFirstOrThrow()).id;
  }

  async services(environmentId: number): Promise<ServiceRow[]> {
    const rows = await this.#db.selectFrom('services').selectAll().where('environment_id', '=', environmentId).orderBy('position').execute();
    return rows.map((r) => ({ id: r.id, environmentId: r.environment_id, name: r.name, spec: r.spec }));
  }

  async upsertService(environmentId: number, name: string, spec: string, position: number): Promise<number> {
    const r = await this.#db.selectFrom('services').select('id').where('environment_id', '=', environmentId).where('name', '=', name).executeTakeFirst();
    if (r) {
      await this.#db.updateTable('services').set({ spec, position }).where('id', '=', r.id).execute();
      return r.id;
    }
    return (await this.#db.insertInto('services').values({ environment_id: environmentId, name, spec, position }).returning('id').executeTakeFirstOrThrow()).id;
  }

  /** Every service of every environment, with its owners' names, in a stable order. */
  async allServices(): Promise<Array<{ id: number; app: string; env: string; service: string; spec: string; sourceDir: string }>> {
    return this.#db
      .selectFrom('services as s')
      .innerJoin('environments as e', 'e.id', 's.environment_id')
      .innerJoin('apps as a', 'a.id', 'e.app_id')
      .select(['s.id', 'a.name as app', 'e.name as env', 's.name as service', 's.spec', 'a.source_dir as sourceDir'])
      .orderBy('a.name').orderBy('e.name').orderBy('s.position')
      .execute();
  }

  async deleteService(id: number): Promise<void> {
    await this.#db.deleteFrom('services').where('id', '=', id).execute();
  }

  /** Deletes the app; environments, services, instances and leases go with it (cascade). */
  async delete(id: number): Promise<void> {
    await this.#db.deleteFrom('apps').where('id', '=', id).execute();
  }
}
