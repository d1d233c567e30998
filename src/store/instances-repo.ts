import type { CompiledQuery, Kysely } from 'kysely';
import type { Database, InstancesTable } from './schema.js';

/** An instance with the names of its app and environment, as the engine sees it. */
export interface InstanceView {
  readonly id: number;
  readonly app: string;
  readonly env: string;
  readonly environmentId: number;
  readonly service: string;
  readonly idx: number;
  readonly releaseId: number;
  /** The release's number within its environment. */
  readonly release: number;
  /** True when its release is the environment's current one. */
  readonly current: boolean;
  readonly desired: 'running' | 'stopped';
  readonly state: string;
  readonly stateSince: number;
  readonly pid: number | null;
  readonly startTicks: string | null;
  readonly port: number | null;
  readonly restarts: number;
  readonly lastExit: string | null;
  readonly startedAt: number | null;
  /** The ServiceSpec as JSON. */
  readonly spec: string;
  /** The release directory. */
  readonly rootDir: string;
  /** The organisation of its app. */
  readonly orgId: number;
}

export type InstancePatch = Partial<
  Omit<InstancesTable, 'id' | 'environment_id' | 'release_id' | 'service' | 'idx' | 'spec' | 'root_dir'>
>;

export interface InstanceFilter {
  readonly app?: string | undefined;
  readonly env?: string | undefined;
  readonly service?: string | undefined;
  readonly id?: number | undefined;
  readonly releaseId?: number | undefined;
  readonly environmentId?: number | undefined;
  /** Only apps of these organisations. */
  readonly orgIds?: readonly number[] | undefined;
}

export interface NewInstance {
  readonly environmentId: number;
  readonly releaseId: number;
  readonly service: string;
  readonly idx: number;
  readonly spec: string;
  readonly rootDir: string;
}

/**
 * `get`'s query, compiled once (see `get`), and `update`'s, one per set of columns (the engine's few
 * kinds of patch): per dialect (SQLite's `?` or PostgreSQL's `$1`), by the class of its adapter.
 */
const compiled = new Map<unknown, { byId?: CompiledQuery; updates: Map<string, CompiledQuery> }>();

function view({ currentReleaseId, ...r }: { currentReleaseId: number | null; releaseId: number }): InstanceView {
  return { ...r, current: r.releaseId === currentReleaseId } as InstanceView;
}

export class InstancesRepo {
  readonly #db: Kysely<Database>;
  readonly #compiled: { byId?: CompiledQuery; updates: Map<string, CompiledQuery> };
  constructor(db: Kysely<Database>) {
    this.#db = db;
    const dialect = db.getExecutor().adapter.constructor;
    let c = compiled.get(dialect);
    if (!c) compiled.set(dialect, (c = { updates: new Map() }));
    this.#compiled = c;
  }

  /** The instances with their app's and environment's names, their release's number and whether it is current. */
  #select() {
    return this.#db
      .selectFrom('instances as i')
      .innerJoin('environments as e', 'e.id', 'i.environment_id')
      .innerJoin('apps as a', 'a.id', 'e.app_id')
      .innerJoin('releases as r', 'r.id', 'i.release_id')
      .select([
        'i.id',
        'a.name as app',
        'e.name as env',
        'e.id as environmentId',
        'i.service',
        'i.idx',
        'i.release_id as releaseId',
        'r.number as release',
        'i.desired',
        'i.state',
        'i.state_since as stateSince',
        'i.pid',
        'i.start_ticks as startTicks',
        'i.port',
        'i.restarts',
        'i.last_exit as lastExit',
        'i.started_at as startedAt',
        'i.spec',
        'i.root_dir as rootDir',
        'e.current_release_id as currentReleaseId',
        'a.org_id as orgId',
      ]);
  }

  async list(filter: InstanceFilter = {}): Promise<InstanceView[]> {
    let q = this.#select().orderBy('a.name').orderBy('e.name').orderBy('i.release_id').orderBy('i.id');
    if (filter.app !== undefined) q = q.where('a.name', '=', filter.app);
    if (filter.env !== undefined) q = q.where('e.name', '=', filter.env);
    if (filter.service !== undefined) q = q.where('i.service', '=', filter.service);
    if (filter.id !== undefined) q = q.where('i.id', '=', filter.id);
    if (filter.releaseId !== undefined) q = q.where('i.release_id', '=', filter.releaseId);
    if (filter.environmentId !== undefined) q = q.where('i.environment_id', '=', filter.environmentId);
    if (filter.orgIds !== undefined)
      q = filter.orgIds.length === 0 ? q.where('i.id', '<', 0) : q.where('a.org_id', 'in', filter.orgIds);
    return (await q.execute()).map(view);
  }

  /**
   * One instance: read at each step of every instance's start and stop, so its query is compiled once
   * (Kysely builds and compiles each query anew: most of a lookup's cost under berthd's --lite-mode).
   */
  async get(id: number): Promise<InstanceView | undefined> {
    const byId = (this.#compiled.byId ??= this.#select().where('i.id', '=', 0).compile());
    const { rows } = await this.#db.executeQuery({ ...byId, parameters: [id] });
    return (rows as Array<Parameters<typeof view>[0]>).map(view)[0];
  }

  async create(i: NewInstance, now: number): Promise<number> {
    const r = await this.#db
      .insertInto('instances')
      .values({
        environment_id: i.environmentId,
        release_id: i.releaseId,
        service: i.service,
        idx: i.idx,
        spec: i.spec,
        root_dir: i.rootDir,
        desired: 'running',
        state: 'pending',
        state_since: now,
        restarts: 0,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  /** Compiled once per set of columns, as `get` is: every state change of every instance is one. */
  async update(id: number, patch: InstancePatch): Promise<void> {
    const values = patch as Record<string, string | number | null | undefined>;
    const columns = Object.keys(values).filter((k) => values[k] !== undefined);
    if (columns.length === 0) return;
    const key = columns.join(',');
    let q = this.#compiled.updates.get(key);
    if (!q) {
      const blank = Object.fromEntries(columns.map((c) => [c, null])) as InstancePatch;
      q = this.#db.updateTable('instances').set(blank).where('id', '=', 0).compile();
      this.#compiled.updates.set(key, q);
    }
    await this.#db.executeQuery({ ...q, parameters: [...columns.map((c) => values[c]), id] });
  }

  /**
   * Moves an instance to another release of its environment, with that release's spec and
   * directory: a managed database is one instance kept across releases (see engine/databases).
   */
  async moveTo(id: number, releaseId: number, spec: string, rootDir: string): Promise<void> {
    await this.#db
      .updateTable('instances')
      .set({ release_id: releaseId, spec, root_dir: rootDir })
      .where('id', '=', id)
      .execute();
  }

  /** Gives an instance another index (a replaced instance steps aside for its successor). */
  async renumber(id: number, idx: number): Promise<void> {
    await this.#db.updateTable('instances').set({ idx }).where('id', '=', id).execute();
  }

  async delete(id: number): Promise<void> {
    await this.#db.deleteFrom('instances').where('id', '=', id).execute();
  }
}
