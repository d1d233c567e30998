import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface SiteRow {
  readonly slug: string;
  readonly orgId: number;
  readonly template: string;
  readonly host: string;
  readonly status: string;
  readonly createdBy: string;
  readonly createdAt: number;
}

/** Sites made from templates: a slug is claimed once, marked active when made, deleted with its app. */
export class SitesRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Claims a slug: true for exactly one caller. */
  async claim(s: {
    slug: string;
    orgId: number;
    template: string;
    host: string;
    createdBy: string;
    now: number;
  }): Promise<boolean> {
    const r = await this.#db
      .insertInto('sites')
      .values({
        slug: s.slug,
        org_id: s.orgId,
        template: s.template,
        host: s.host,
        status: 'creating',
        created_by: s.createdBy,
        created_at: s.now,
      })
      .onConflict((oc) => oc.column('slug').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  async setStatus(slug: string, status: string): Promise<void> {
    await this.#db.updateTable('sites').set({ status }).where('slug', '=', slug).execute();
  }

  async remove(slug: string): Promise<void> {
    await this.#db.deleteFrom('sites').where('slug', '=', slug).execute();
  }

  async list(filter: { orgId?: number; status?: string } = {}): Promise<SiteRow[]> {
    let q = this.#db
      .selectFrom('sites')
      .select([
        'slug',
        'org_id as orgId',
        'template',
        'host',
        'status',
        'created_by as createdBy',
        'created_at as createdAt',
      ])
      .orderBy('slug');
    if (filter.orgId !== undefined) q = q.where('org_id', '=', filter.orgId);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    return q.execute();
  }
}
