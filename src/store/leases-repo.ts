import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Who owns a leased port. */
export interface LeaseOwner {
  readonly host: string;
  readonly port: number;
  readonly instanceId: number;
  readonly app: string;
  readonly env: string;
  readonly service: string;
  /** The organisation of the app holding it. */
  readonly orgId: number | null;
}

/** Port leases: (host, port) is unique; a lease belongs to one instance and dies with it. */
export class LeasesRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async portsInRange(host: string, low: number, high: number): Promise<Set<number>> {
    const rows = await this.#db
      .selectFrom('port_leases')
      .select('port')
      .where('host', '=', host)
      .where('port', '>=', low)
      .where('port', '<=', high)
      .execute();
    return new Set(rows.map((r) => r.port));
  }

  /** Inserts a lease; throws a unique violation when the port is taken. */
  async insert(host: string, port: number, instanceId: number, now: number): Promise<void> {
    await this.#db.insertInto('port_leases').values({ host, port, instance_id: instanceId, created_at: now }).execute();
  }

  async owner(host: string, port: number): Promise<LeaseOwner | undefined> {
    return (await this.all(host)).find((l) => l.port === port);
  }

  async all(host?: string): Promise<LeaseOwner[]> {
    let q = this.#db
      .selectFrom('port_leases as l')
      .innerJoin('instances as i', 'i.id', 'l.instance_id')
      .innerJoin('environments as e', 'e.id', 'i.environment_id')
      .innerJoin('apps as a', 'a.id', 'e.app_id')
      .select([
        'l.host',
        'l.port',
        'l.instance_id as instanceId',
        'a.name as app',
        'e.name as env',
        'i.service',
        'a.org_id as orgId',
      ])
      .orderBy('l.port');
    if (host !== undefined) q = q.where('l.host', '=', host);
    return q.execute();
  }

  /**
   * Makes sure `instanceId` holds the lease of `port` (an instance that runs again takes back
   * the port it was given). Returns the other owner when someone else holds it; call it in a
   * write transaction.
   */
  async claim(host: string, port: number, instanceId: number, now: number): Promise<LeaseOwner | undefined> {
    const owner = await this.owner(host, port);
    if (owner) return owner.instanceId === instanceId ? undefined : owner;
    await this.insert(host, port, instanceId, now);
    return undefined;
  }

  async releaseInstance(instanceId: number): Promise<void> {
    await this.#db.deleteFrom('port_leases').where('instance_id', '=', instanceId).execute();
  }
}
