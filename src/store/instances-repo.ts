import type { Kysely } from 'kysely';
import type { Database, InstancesTable } from './schema.js';

/** An instance with the names of its app, environment and service, as the engine sees it. */
export interface InstanceView {
  readonly id: number;
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly serviceId: number;
  readonly idx: number;
  readonly desired: 'running' | 'stopped';
  readonly state: string;
  readonly stateSince: number;
  readonly pid: number | null;
  readonly startTicks: string | null;
  readonly port: number | null;
  readonly restarts: number;
  readonly lastExit: string | null;
  readonly startedAt: number | null;
  readonly spec: string;
  readonly sourceDir: string;
}

export type InstancePatch = Partial<Omit<InstancesTable, 'id' | 'service_id' | 'idx'>>;

export interface InstanceFilter {
  readonly app?: string | undefined;
  readonly env?: string | undefined;
  readonly service?: string | undefined;
  readonly id?: number | undefined;
}

export class InstancesRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async list(filter: InstanceFilter = {}): Promise<InstanceView[]> {
    let q = this.#db
      .selectFrom('instances as i')
      .innerJoin('services as s', 's.id', 'i.service_id')
      .innerJoin('environments as e', 'e.id', 's.environment_id')
      .innerJoin('apps as a', 'a.id', 'e.app_id')
      .select([
        'i.id', 'a.name as app', 'e.name as env', 's.name as service', 's.id as serviceId', 'i.idx', 'i.desired', 'i.state',
        'i.state_since as stateSince', 'i.pid', 'i.start_ticks as startTicks', 'i.port', 'i.restarts', 'i.last_exit as lastExit',
        'i.started_at as startedAt', 's.spec', 'a.source_dir as sourceDir',
      ])
      .orderBy('a.name').orderBy('e.name').orderBy('s.position').orderBy('i.idx');
    if (filter.app !== undefined) q = q.where('a.name', '=', filter.app);
    if (filter.env !== undefined) q = q.where('e.name', '=', filter.env);
    if (filter.service !== undefined) q = q.where('s.name', '=', filter.service);
    if (filter.id !== undefined) q = q.where('i.id', '=', filter.id);
    return (await q.execute()) as InstanceView[];
  }

  async get(id: number): Promise<InstanceView | undefined> {
    return (await this.list({ id }))[0];
  }

  async create(serviceId: number, idx: number, now: number): Promise<number> {
    const r = await this.#db
      .insertInto('instances')
      .values({ service_id: serviceId, idx, desired: 'running', state: 'pending', state_since: now, restarts: 0 })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async ofService(serviceId: number): Promise<Array<{ id: number; idx: number }>> {
    return this.#db.selectFrom('instances').select(['id', 'idx']).where('service_id', '=', serviceId).orderBy('idx').execute();
  }

  async update(id: number, patch: InstancePatch): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    await this.#db.updateTable('instances').set(patch).where('id', '=', id).execute();
  }

  async delete(id: number): Promise<void> {
    await this.#db.deleteFrom('instances').where('id', '=', id).execute();
  }
}
