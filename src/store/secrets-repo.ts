import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface SealedSecret {
  readonly app: string;
  readonly env: string;
  readonly name: string;
  readonly sealed: string;
  readonly updatedAt: number;
}

/** Sealed secrets per app and environment ('' = every environment). Values are never stored in clear. */
export class SecretsRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async put(appId: number, env: string, name: string, sealed: string, now: number): Promise<void> {
    await this.#db
      .insertInto('secrets')
      .values({ app_id: appId, env, name, sealed, updated_at: now })
      .onConflict((oc) => oc.columns(['app_id', 'env', 'name']).doUpdateSet({ sealed, updated_at: now }))
      .execute();
  }

  async delete(appId: number, env: string, name: string): Promise<boolean> {
    const r = await this.#db
      .deleteFrom('secrets')
      .where('app_id', '=', appId)
      .where('env', '=', env)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async putWebhook(appId: number, sealed: string, now: number): Promise<void> {
    await this.#db
      .insertInto('webhooks')
      .values({ app_id: appId, sealed, created_at: now })
      .onConflict((oc) => oc.column('app_id').doUpdateSet({ sealed, created_at: now }))
      .execute();
  }

  async webhook(app: string): Promise<string | undefined> {
    return (
      await this.#db
        .selectFrom('webhooks as w')
        .innerJoin('apps as a', 'a.id', 'w.app_id')
        .select('w.sealed')
        .where('a.name', '=', app)
        .executeTakeFirst()
    )?.sealed;
  }

  /** Records a push delivery id; false when it was recorded before (a replay). Prunes ids older than `keepMs`. */
  async takeDelivery(appId: number, delivery: string, now: number, keepMs: number): Promise<boolean> {
    await this.#db
      .deleteFrom('webhook_deliveries')
      .where('received_at', '<', now - keepMs)
      .execute();
    const r = await this.#db
      .insertInto('webhook_deliveries')
      .values({ app_id: appId, delivery, received_at: now })
      .onConflict((oc) => oc.columns(['app_id', 'delivery']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /** Forgets a delivery id (its handling failed: GitHub may redeliver it). */
  async dropDelivery(appId: number, delivery: string): Promise<void> {
    await this.#db
      .deleteFrom('webhook_deliveries')
      .where('app_id', '=', appId)
      .where('delivery', '=', delivery)
      .execute();
  }

  async list(app?: string): Promise<SealedSecret[]> {
    let q = this.#db
      .selectFrom('secrets as s')
      .innerJoin('apps as a', 'a.id', 's.app_id')
      .select(['a.name as app', 's.env', 's.name', 's.sealed', 's.updated_at as updatedAt'])
      .orderBy('a.name')
      .orderBy('s.name')
      .orderBy('s.env');
    if (app !== undefined) q = q.where('a.name', '=', app);
    return q.execute();
  }
}
