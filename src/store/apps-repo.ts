import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface AppRow {
  readonly id: number;
  readonly name: string;
  readonly sourceDir: string;
  readonly manifestFile: string;
  readonly orgId: number;
  readonly org: string;
}

/** An app registered by `berth secrets set` before its first deploy: it has no source yet. */
export const neverDeployed = (row: { readonly sourceDir: string }): boolean => row.sourceDir === '';

export interface EnvironmentRow {
  readonly id: number;
  readonly app: string;
  readonly appId: number;
  readonly name: string;
  readonly currentReleaseId: number | null;
  readonly branch: string | null;
  readonly definition: string | null;
  readonly createdAt: number;
}

/** Apps and their environments. */
export class AppsRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async find(name: string): Promise<AppRow | undefined> {
    return this.#db
      .selectFrom('apps as a')
      .innerJoin('orgs as o', 'o.id', 'a.org_id')
      .select([
        'a.id',
        'a.name',
        'a.source_dir as sourceDir',
        'a.manifest_file as manifestFile',
        'a.org_id as orgId',
        'o.name as org',
      ])
      .where('a.name', '=', name)
      .executeTakeFirst() as Promise<AppRow | undefined>;
  }

  /** App names, all or those of some organisations. */
  async names(orgIds?: readonly number[]): Promise<string[]> {
    let q = this.#db.selectFrom('apps').select('name').orderBy('name');
    if (orgIds !== undefined) q = orgIds.length === 0 ? q.where('id', '<', 0) : q.where('org_id', 'in', orgIds);
    return (await q.execute()).map((r) => r.name);
  }

  /** Apps and their organisation's name, for the organisations given (all when undefined). */
  async withOrg(orgIds?: readonly number[]): Promise<Array<{ name: string; org: string }>> {
    let q = this.#db
      .selectFrom('apps as a')
      .innerJoin('orgs as o', 'o.id', 'a.org_id')
      .select(['a.name', 'o.name as org'])
      .orderBy('a.name');
    if (orgIds !== undefined) q = orgIds.length === 0 ? q.where('a.id', '<', 0) : q.where('a.org_id', 'in', orgIds);
    return q.execute();
  }

  async countInOrg(orgId: number): Promise<number> {
    return Number(
      (
        await this.#db
          .selectFrom('apps')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('org_id', '=', orgId)
          .executeTakeFirstOrThrow()
      ).n,
    );
  }

  /** Creates or updates the app row and returns its id. A new app goes into `orgId`. */
  async upsert(name: string, sourceDir: string, manifestFile: string, now: number, orgId: number): Promise<number> {
    const existing = await this.find(name);
    if (existing) {
      await this.#db
        .updateTable('apps')
        .set({ source_dir: sourceDir, manifest_file: manifestFile, updated_at: now })
        .where('id', '=', existing.id)
        .execute();
      return existing.id;
    }
    const r = await this.#db
      .insertInto('apps')
      .values({
        name,
        source_dir: sourceDir,
        manifest_file: manifestFile,
        created_at: now,
        updated_at: now,
        org_id: orgId,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  /** Registers an app that was never deployed (its secrets come first): no source yet, no environment. */
  async register(name: string, now: number, orgId: number): Promise<number> {
    const r = await this.#db
      .insertInto('apps')
      .values({ name, source_dir: '', manifest_file: '', created_at: now, updated_at: now, org_id: orgId })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  /** Back to registered, never deployed: its environments go (and all under them); its secrets and webhook stay. */
  async unregisterSource(id: number, now: number): Promise<void> {
    await this.#db.deleteFrom('environments').where('app_id', '=', id).execute();
    await this.#db
      .updateTable('apps')
      .set({ source_dir: '', manifest_file: '', updated_at: now })
      .where('id', '=', id)
      .execute();
  }

  /** The environment's id, created when missing (with the branch it runs, when environments are declared). */
  async environmentId(
    appId: number,
    name: string,
    now: number,
    origin: { branch: string; definition: string } | null = null,
  ): Promise<{ id: number; created: boolean }> {
    const r = await this.#db
      .selectFrom('environments')
      .select('id')
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (r) {
      if (origin)
        await this.#db
          .updateTable('environments')
          .set({ branch: origin.branch, definition: origin.definition })
          .where('id', '=', r.id)
          .execute();
      return { id: r.id, created: false };
    }
    const row = await this.#db
      .insertInto('environments')
      .values({
        app_id: appId,
        name,
        created_at: now,
        current_release_id: null,
        branch: origin?.branch ?? null,
        definition: origin?.definition ?? null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: row.id, created: true };
  }

  async environments(filter: { app?: string; env?: string; id?: number } = {}): Promise<EnvironmentRow[]> {
    let q = this.#db
      .selectFrom('environments as e')
      .innerJoin('apps as a', 'a.id', 'e.app_id')
      .select([
        'e.id',
        'a.name as app',
        'a.id as appId',
        'e.name',
        'e.current_release_id as currentReleaseId',
        'e.branch',
        'e.definition',
        'e.created_at as createdAt',
      ])
      .orderBy('a.name')
      .orderBy('e.name');
    if (filter.app !== undefined) q = q.where('a.name', '=', filter.app);
    if (filter.env !== undefined) q = q.where('e.name', '=', filter.env);
    if (filter.id !== undefined) q = q.where('e.id', '=', filter.id);
    return q.execute();
  }

  async setCurrentRelease(environmentId: number, releaseId: number | null): Promise<void> {
    await this.#db
      .updateTable('environments')
      .set({ current_release_id: releaseId })
      .where('id', '=', environmentId)
      .execute();
  }

  async deleteEnvironment(id: number): Promise<void> {
    await this.#db.deleteFrom('environments').where('id', '=', id).execute();
  }

  /** Deletes the app; environments, releases, deployments, instances and leases go with it (cascade). */
  async delete(id: number): Promise<void> {
    await this.#db.deleteFrom('apps').where('id', '=', id).execute();
  }
}
