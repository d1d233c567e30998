import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface MetricsTokensTable {
  id: import('kysely').Generated<number>;
  name: string;
  /** SHA-256 (hex) of the secret; the secret is shown once. */
  secret_hash: string;
  expires_at: number;
  created_at: number;
  last_used_at: number | null;
}

export interface MetricsTokenRow {
  readonly id: number;
  readonly name: string;
  readonly expiresAt: number;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
}

/** Deployments of one environment with one status, and how many took at most each bound. */
export interface DeployCounts {
  readonly app: string;
  readonly env: string;
  readonly status: string;
  readonly count: number;
  /** Seconds, finished deployments only. */
  readonly sum: number;
  /** Cumulative: finished deployments that took at most each of the bounds asked for. */
  readonly le: readonly number[];
  readonly finished: number;
}

/** Tokens that read only /metrics (made by the host admin), and the store's side of what /metrics reports. */
export class MetricsRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async createToken(t: { name: string; secretHash: string; expiresAt: number; now: number }): Promise<number> {
    const r = await this.#db
      .insertInto('metrics_tokens')
      .values({ name: t.name, secret_hash: t.secretHash, expires_at: t.expiresAt, created_at: t.now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  #tokens() {
    return this.#db
      .selectFrom('metrics_tokens')
      .select(['id', 'name', 'expires_at as expiresAt', 'created_at as createdAt', 'last_used_at as lastUsedAt']);
  }

  async tokenByHash(secretHash: string): Promise<MetricsTokenRow | undefined> {
    return this.#tokens().where('secret_hash', '=', secretHash).executeTakeFirst();
  }

  async tokens(): Promise<MetricsTokenRow[]> {
    return this.#tokens().orderBy('id').execute();
  }

  async touchToken(id: number, now: number): Promise<void> {
    await this.#db.updateTable('metrics_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  async deleteToken(id: number): Promise<boolean> {
    const r = await this.#db.deleteFrom('metrics_tokens').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * Deploy attempts by environment and status (release_attempts: a failed first deploy's attempt
   * outlives its app), with a duration histogram over `bounds` (seconds), in one query.
   */
  async deploys(bounds: readonly number[]): Promise<DeployCounts[]> {
    const dur = sql<number>`(finished_at - started_at) / 1000.0`;
    const rows = await this.#db
      .selectFrom('release_attempts')
      .select([
        'app',
        'env',
        'status',
        sql<number>`count(*)`.as('count'),
        sql<number>`count(finished_at)`.as('finished'),
        sql<number>`coalesce(sum(${dur}), 0)`.as('sum'),
        ...bounds.map((b, i) =>
          sql<number>`sum(case when finished_at is not null and ${dur} <= ${b} then 1 else 0 end)`.as(`le${i}`),
        ),
      ])
      .groupBy(['app', 'env', 'status'])
      .execute();
    return rows.map((r) => {
      const row = r as unknown as Record<string, number | string>;
      return {
        app: String(row.app),
        env: String(row.env),
        status: String(row.status),
        count: Number(row.count),
        finished: Number(row.finished),
        sum: Number(row.sum),
        le: bounds.map((_, i) => Number(row[`le${i}`] ?? 0)),
      };
    });
  }

  /** When each environment's newest verified backup finished. */
  async lastGoodBackups(): Promise<Array<{ app: string; env: string; at: number }>> {
    return this.#db
      .selectFrom('backups as b')
      .innerJoin('environments as e', 'e.id', 'b.environment_id')
      .innerJoin('apps as a', 'a.id', 'e.app_id')
      .where('b.status', '=', 'verified')
      .select(['a.name as app', 'e.name as env', sql<number>`max(b.finished_at)`.as('at')])
      .groupBy(['a.name', 'e.name'])
      .execute();
  }

  /** OOM kills per service: the instance exits berthd recorded as killed by the OOM killer (instance-exits.ts). */
  async oomKills(): Promise<Array<{ app: string; env: string; service: string; count: number }>> {
    const rows = await this.#db
      .selectFrom('events')
      .where('kind', '=', 'instance.state')
      .where('message', 'like', '%: oom: killed for memory%')
      .select(['app', 'environment as env', 'service', sql<number>`count(*)`.as('count')])
      .groupBy(['app', 'environment', 'service'])
      .execute();
    return rows.map((r) => ({ app: r.app, env: r.env ?? '', service: r.service ?? '', count: Number(r.count) }));
  }
}
