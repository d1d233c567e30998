import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface EventRecord {
  readonly at: number;
  readonly app: string;
  readonly environment: string | null;
  readonly service: string | null;
  readonly kind: string;
  readonly message: string;
}

/** An append-only record of what happened, newest last. */
export class EventsRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async append(e: EventRecord): Promise<void> {
    // Messages that quote an app's output come redacted with its own secrets (never every organisation's: no oracle).
    await this.#db.insertInto('events').values(e).execute();
  }

  /** The newest `limit` events, of one app or of some apps (`apps`: those a caller may see). */
  async recent(app: string | undefined, limit: number, apps?: readonly string[]): Promise<EventRecord[]> {
    let q = this.#db
      .selectFrom('events')
      .select(['at', 'app', 'environment', 'service', 'kind', 'message'])
      .orderBy('id', 'desc')
      .limit(limit);
    if (app !== undefined) q = q.where('app', '=', app);
    if (apps !== undefined) q = apps.length === 0 ? q.where('id', '<', 0) : q.where('app', 'in', apps);
    return (await q.execute()).reverse();
  }
}
