import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** An open alert incident: one per (rule, subject). Resolved ones are deleted (their messages were sent). */
export interface AlertIncidentsTable {
  rule: string;
  subject: string;
  app: string | null;
  env: string | null;
  service: string | null;
  message: string;
  opened_at: number;
  /** When its condition was last seen: it is resolved once absent for `resolve_after` after this. */
  last_seen: number;
}

export interface IncidentRow {
  readonly rule: string;
  readonly subject: string;
  readonly app: string | null;
  readonly env: string | null;
  readonly service: string | null;
  readonly message: string;
  readonly openedAt: number;
  readonly lastSeen: number;
}

/** An instance of a current release that should run, in a state an alert rule looks at. */
export interface TroubledInstance {
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly idx: number;
  readonly state: string;
  readonly stateSince: number;
  readonly lastExit: string | null;
}

/** The alerts' own state (open incidents) and the store's facts their rules read. */
export class AlertsRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async open(): Promise<IncidentRow[]> {
    return this.#db
      .selectFrom('alert_incidents')
      .select(['rule', 'subject', 'app', 'env', 'service', 'message', 'opened_at as openedAt', 'last_seen as lastSeen'])
      .execute();
  }

  async insert(i: IncidentRow): Promise<void> {
    const { openedAt, lastSeen, ...rest } = i;
    await this.#db
      .insertInto('alert_incidents')
      .values({ ...rest, opened_at: openedAt, last_seen: lastSeen })
      .execute();
  }

  async seen(rule: string, subject: string, at: number): Promise<void> {
    await this.#db
      .updateTable('alert_incidents')
      .set({ last_seen: at })
      .where('rule', '=', rule)
      .where('subject', '=', subject)
      .execute();
  }

  async remove(rule: string, subject: string): Promise<void> {
    await this.#db.deleteFrom('alert_incidents').where('rule', '=', rule).where('subject', '=', subject).execute();
  }

  /** Instances of current releases, wanted running, that are in crashloop or unhealthy, or were ever restarted. */
  async troubled(): Promise<TroubledInstance[]> {
    return this.#db
      .selectFrom('instances as i')
      .innerJoin('environments as e', 'e.id', 'i.environment_id')
      .innerJoin('apps as a', 'a.id', 'e.app_id')
      .select(['a.name as app', 'e.name as env', 'i.service', 'i.idx', 'i.state', 'i.state_since as stateSince'])
      .select('i.last_exit as lastExit')
      .whereRef('i.release_id', '=', 'e.current_release_id')
      .where('i.desired', '=', 'running')
      .where((eb) => eb.or([eb('i.state', 'in', ['crashloop', 'unhealthy']), eb('i.restarts', '>', 0)]))
      .execute();
  }

  /** (app, env) whose newest finished deploy attempt failed, with its error. */
  async failedDeploys(): Promise<Array<{ app: string; env: string; number: number; error: string | null }>> {
    return this.#db
      .selectFrom('release_attempts as t')
      .select(['t.app', 't.env', 't.number', 't.error'])
      .where('t.status', '=', 'failed')
      .where((eb) =>
        eb(
          't.number',
          '=',
          eb
            .selectFrom('release_attempts as u')
            .select((x) => x.fn.max('u.number').as('n'))
            .whereRef('u.app', '=', 't.app')
            .whereRef('u.env', '=', 't.env')
            .where('u.status', 'in', ['succeeded', 'failed']),
        ),
      )
      .execute();
  }
}
