import { sql, type Kysely } from 'kysely';
import { AppsRepo } from './apps-repo.js';
import { DeploymentsRepo } from './deployments-repo.js';
import { ReleasesRepo } from './releases-repo.js';
import { AttemptsRepo } from './attempts-repo.js';
import { EventsRepo } from './events-repo.js';
import { InstancesRepo } from './instances-repo.js';
import { LeasesRepo } from './leases-repo.js';
import { AddressesRepo } from './addresses-repo.js';
import { IdentityRepo } from './identity-repo.js';
import { SitesRepo } from './sites-repo.js';
import { SecretsRepo } from './secrets-repo.js';
import { CronRepo } from './cron-repo.js';
import { BackupsRepo } from './backups-repo.js';
import { AlertsRepo } from './alerts-repo.js';
import { MetricsRepo } from './metrics-repo.js';
import { isBusy, openSqlite, type StoreCounters } from './open.js';
import type { Database } from './schema.js';
import type { StoreLocation } from './store-url.js';

/** The advisory lock key every PostgreSQL write transaction takes ("berth" in ASCII, then 'w'). */
const WRITER_LOCK = 0x6265727468_77;

/** Repositories bound to one executor: the store itself, or a transaction. */
export class Repos {
  readonly apps: AppsRepo;
  readonly instances: InstancesRepo;
  readonly leases: LeasesRepo;
  readonly addresses: AddressesRepo;
  readonly events: EventsRepo;
  readonly releases: ReleasesRepo;
  readonly attempts: AttemptsRepo;
  readonly deployments: DeploymentsRepo;
  readonly identity: IdentityRepo;
  readonly sites: SitesRepo;
  readonly secrets: SecretsRepo;
  readonly cron: CronRepo;
  readonly backups: BackupsRepo;
  readonly alerts: AlertsRepo;
  readonly metrics: MetricsRepo;
  constructor(db: Kysely<Database>) {
    this.alerts = new AlertsRepo(db);
    this.metrics = new MetricsRepo(db);
    this.backups = new BackupsRepo(db);
    this.cron = new CronRepo(db);
    this.secrets = new SecretsRepo(db);
    this.identity = new IdentityRepo(db);
    this.sites = new SitesRepo(db);
    this.apps = new AppsRepo(db);
    this.releases = new ReleasesRepo(db);
    this.attempts = new AttemptsRepo(db);
    this.deployments = new DeploymentsRepo(db);
    this.instances = new InstancesRepo(db);
    this.leases = new LeasesRepo(db);
    this.addresses = new AddressesRepo(db);
    this.events = new EventsRepo(db);
  }
}

/** The state store. Everything that changes state goes through `write`, one transaction each. */
export class Store extends Repos {
  readonly #db: Kysely<Database>;
  readonly #counters: StoreCounters;
  /** Writes waiting for the next shared transaction (see `batched`). */
  #pending:
    | Array<{ fn: (r: Repos) => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }>
    | undefined;

  /** Which database holds the store: PostgreSQL's writes take a lock of their own (see `write`). */
  readonly kind: StoreLocation['kind'];

  private constructor(db: Kysely<Database>, counters: StoreCounters, kind: StoreLocation['kind']) {
    super(db);
    this.#db = db;
    this.#counters = counters;
    this.kind = kind;
  }

  static async openSqlite(file: string): Promise<Store> {
    return Store.open({ kind: 'sqlite', file });
  }

  /** Opens the store where the host settings say (migrations run); PostgreSQL's driver loads only for it. */
  static async open(where: StoreLocation): Promise<Store> {
    const counters = { statements: 0, commits: 0 };
    if (where.kind === 'sqlite') return new Store(await openSqlite({ file: where.file }, counters), counters, 'sqlite');
    const { openPostgres } = await import('./open-postgres.js');
    return new Store((await openPostgres(where.url, counters)).db, counters, 'postgres');
  }

  /** Statements run and commits made since the store opened (`berth daemon status`; test/scale bounds them). */
  get counters(): Readonly<StoreCounters> {
    return { ...this.#counters };
  }

  /**
   * Runs `fn` in a write transaction taken up front (SQLite `BEGIN IMMEDIATE`), so two
   * processes sharing the store serialize instead of failing on upgrade. Commits when
   * `fn` resolves, rolls back when it throws. Retries while another writer holds the lock.
   * On PostgreSQL the transaction first takes one advisory lock that every writer takes: the
   * same one writer at a time as SQLite's, so a read-then-insert (a port lease, a release
   * number) behaves alike on both, also with several berthd sharing the database.
   */
  async write<T>(fn: (repos: Repos) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#db.connection().execute(async (conn) => {
          if (this.kind === 'sqlite') await sql`begin immediate`.execute(conn);
          else {
            await sql`begin`.execute(conn);
            await sql`select pg_advisory_xact_lock(${sql.lit(WRITER_LOCK)})`.execute(conn);
          }
          try {
            const result = await fn(new Repos(conn));
            await sql`commit`.execute(conn);
            return result;
          } catch (err) {
            await sql`rollback`.execute(conn);
            throw err;
          }
        });
      } catch (err) {
        if (!isBusy(err) || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
      }
    }
  }

  /**
   * Like `write`, but shares its transaction with the other writes asked for in the same turn of
   * the event loop: a wave of 1,000 instances made a commit of every state change (issue 14). It
   * resolves once its transaction is committed, so what the caller does next still follows the
   * write to disk. `fn` uses only the repositories it is given. Should the shared transaction
   * fail, each write runs again alone, so one write's failure is its own.
   */
  batched<T>(fn: (repos: Repos) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.#pending) {
        this.#pending = [];
        setImmediate(() => void this.#flush());
      }
      this.#pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  async #flush(): Promise<void> {
    const ops = this.#pending ?? [];
    this.#pending = undefined;
    let results: unknown[];
    try {
      results = await this.write(async (r) => {
        const out: unknown[] = [];
        for (const op of ops) out.push(await op.fn(r));
        return out;
      });
    } catch {
      for (const op of ops) this.write(op.fn).then(op.resolve, op.reject);
      return;
    }
    ops.forEach((op, i) => op.resolve(results[i]));
  }

  async close(): Promise<void> {
    await this.#db.destroy();
  }
}
