import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { redactor } from '../core/redact.js';

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
    await this.#db.insertInto('events').values({ ...e, message: redactor.redact(e.message) }).execute();
  }

  /** The newest `limit` events, of one app or of some apps (`apps`: those a caller may see). */
  async recent(app: string | undefined, limit: number, apps?: readonly string[]): Promise<EventRecord[]> {
    let q = this.#db.selectFrom('events').select(['at', 'app', 'environment', 'service', 'kind', 'message']).orderBy('id', 'desc').limit(limit);
    if (app !== undefined) q = q.where('app', '=', app);
    if (apps !== undefined) q = apps.length === 0 ? q.where('id', '<', 0) : q.where('app', 'in', apps);
    return (await q.execute()).reverse();
  }
}
