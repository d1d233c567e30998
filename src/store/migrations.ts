import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { foundationMigrations, type Schemaless } from './migrations-foundation.js';

/**
 * Versioned migrations, applied in name order at daemon start. Never edit a released
 * migration: add the next one. Plain SQL types that SQLite and PostgreSQL both accept.
 */
const migrations: Record<string, Migration> = {
  ...foundationMigrations,
  '0007_webhook_deliveries': {
    async up(db: Kysely<Schemaless>) {
      // Push deliveries already taken, by the SHA-256 of their signed body: a captured delivery
      // replayed later (also after berthd restarts) is refused. Rows older than 90 days are pruned.
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('app_id', 'integer', (c) => c.notNull().references('apps.id').onDelete('cascade'))
        .addColumn('delivery', 'text', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('webhook_deliveries_pk', ['app_id', 'delivery'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_received')
        .on('webhook_deliveries')
        .column('received_at')
        .execute();
    },
  },
  '0008_release_attempts': {
    async up(db: Kysely<Schemaless>) {
      // Release numbers per app and environment name, never reused (a failed attempt keeps its own
      // logs), kept when a failed first deploy takes its app row with it. Seeded with the releases kept.
      await db.schema
        .createTable('release_attempts')
        .addColumn('app', 'text', (c) => c.notNull())
        .addColumn('env', 'text', (c) => c.notNull())
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addPrimaryKeyConstraint('release_attempts_pk', ['app', 'env', 'number'])
        .execute();
      await sql`insert into release_attempts (app, env, number, status, error, started_at, finished_at)
        select a.name, e.name, r.number, 'succeeded', null, r.created_at, r.created_at
        from releases r join environments e on e.id = r.environment_id join apps a on a.id = e.app_id`.execute(db);
    },
  },
  '0009_cron_runs': {
    async up(db: Kysely<Schemaless>) {
      // Runs of `cron:` jobs. A run is claimed (inserted) before it starts: the unique key makes a
      // minute run once, also when berthd restarts within it.
      await db.schema
        .createTable('cron_runs')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('environment_id', 'integer', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('job', 'text', (c) => c.notNull())
        .addColumn('due_at', 'bigint', (c) => c.notNull())
        .addColumn('release', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addColumn('exit_code', 'integer')
        .addColumn('signal', 'text')
        .addColumn('pid', 'integer')
        .addColumn('start_ticks', 'text')
        .addColumn('note', 'text')
        .addUniqueConstraint('cron_runs_due', ['environment_id', 'job', 'due_at'])
        .execute();
      await db.schema.createIndex('cron_runs_status').on('cron_runs').column('status').execute();
    },
  },
  '0010_service_addresses': {
    async up(db: Kysely<Schemaless>) {
      // One stable loopback port per (release, service) that others depend on: the builtin proxy balances it over the instances.
      await db.schema
        .createTable('service_addresses')
        .addColumn('release_id', 'integer', (c) => c.notNull().references('releases.id').onDelete('cascade'))
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('service_addresses_pk', ['release_id', 'service'])
        .addUniqueConstraint('service_addresses_port', ['host', 'port'])
        .execute();
    },
  },
  '0011_backups': {
    async up(db: Kysely<Schemaless>) {
      // restic snapshots of environments (a scheduled one claimed once per due minute) and restores (journaled).
      await db.schema
        .createTable('backups')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('environment_id', 'integer', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('due_at', 'bigint')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('snapshot', 'text')
        .addColumn('release', 'integer')
        .addColumn('size', 'bigint')
        .addColumn('holds', 'text')
        .addColumn('error', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addUniqueConstraint('backups_due', ['environment_id', 'due_at'])
        .execute();
      await db.schema
        .createTable('restores')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('environment_id', 'integer', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('snapshot', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('journal', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .execute();
    },
  },
  '0012_alert_incidents': {
    async up(db: Kysely<Schemaless>) {
      // Open alert incidents, one per (rule, subject): a berthd restart neither re-sends nor forgets them.
      await db.schema
        .createTable('alert_incidents')
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('app', 'text')
        .addColumn('env', 'text')
        .addColumn('service', 'text')
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('opened_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('alert_incidents_pk', ['rule', 'subject'])
        .execute();
    },
  },
  '0013_metrics_tokens': {
    async up(db: Kysely<Schemaless>) {
      // Tokens that read only GET /metrics, made by the host admin (a scraper's credential): SHA-256 of the secret only.
      await db.schema
        .createTable('metrics_tokens')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
