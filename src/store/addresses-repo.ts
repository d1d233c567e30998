import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** The stable address of one service of one release, with the names it belongs to. */
export interface ServiceAddress {
  readonly releaseId: number;
  /** The release's number within its environment. */
  readonly release: number;
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly host: string;
  readonly port: number;
}

/**
 * Service addresses: one loopback port per (release, service) that other services of the
 * release depend on. (host, port) is unique here, and the port allocator keeps it apart from
 * the instances' port leases.
 */
export class AddressesRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async list(filter: { releaseId?: number; host?: string; port?: number } = {}): Promise<ServiceAddress[]> {
    let q = this.#db
      .selectFrom('service_addresses as s')
      .innerJoin('releases as r', 'r.id', 's.release_id')
      .innerJoin('environments as e', 'e.id', 'r.environment_id')
      .innerJoin('apps as a', 'a.id', 'e.app_id')
      .select([
        's.release_id as releaseId',
        'r.number as release',
        'a.name as app',
        'e.name as env',
        's.service',
        's.host',
        's.port',
      ])
      .orderBy('s.port');
    if (filter.releaseId !== undefined) q = q.where('s.release_id', '=', filter.releaseId);
    if (filter.host !== undefined) q = q.where('s.host', '=', filter.host);
    if (filter.port !== undefined) q = q.where('s.port', '=', filter.port);
    return q.execute();
  }

  async portsInRange(host: string, low: number, high: number): Promise<Set<number>> {
    const rows = await this.#db
      .selectFrom('service_addresses')
      .select('port')
      .where('host', '=', host)
      .where('port', '>=', low)
      .where('port', '<=', high)
      .execute();
    return new Set(rows.map((r) => r.port));
  }

  /** Whether the service of a release has an address (one lookup by primary key). */
  async has(releaseId: number, service: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('service_addresses')
      .select('port')
      .where('release_id', '=', releaseId)
      .where('service', '=', service)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Records an address; throws a unique violation when the service has one or the port is taken. */
  async insert(releaseId: number, service: string, host: string, port: number, now: number): Promise<void> {
    await this.#db
      .insertInto('service_addresses')
      .values({ release_id: releaseId, service, host, port, created_at: now })
      .execute();
  }

  /** Deletes the addresses of services of which no instance is left (their release was retired, or its start undone). */
  async deleteUnused(): Promise<number> {
    const r = await this.#db
      .deleteFrom('service_addresses')
      .where(
        sql<boolean>`not exists (select 1 from instances i where i.release_id = service_addresses.release_id and i.service = service_addresses.service)`,
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
