import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * Versioned migrations, applied in name order at daemon start. Never edit a released
 * migration: add the next one. Plain SQL types that SQLite and PostgreSQL both accept.
 */
const migrations: Record<string, Migration> = {
  '0001_core': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('apps')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('source_dir', 'text', (c) => c.notNull())
        .addColumn('manifest_file', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('environments')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('app_id', 'integer', (c) => c.notNull().references('apps.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('current_release_id', 'integer')
        .addUniqueConstraint('environments_app_name', ['app_id', 'name'])
        .execute();
      await db.schema
        .createTable('releases')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('environment_id', 'integer', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('dir', 'text', (c) => c.notNull())
        .addColumn('manifest', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('releases_env_number', ['environment_id', 'number'])
        .execute();
      await db.schema
        .createTable('deployments')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('environment_id', 'integer', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('release_id', 'integer')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('steps', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .execute();
      await sql`create index deployments_env_status on deployments (environment_id, status)`.execute(db);
      await db.schema
        .createTable('instances')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('environment_id', 'integer', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('release_id', 'integer', (c) => c.notNull().references('releases.id').onDelete('cascade'))
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('root_dir', 'text', (c) => c.notNull())
        .addColumn('desired', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('state_since', 'bigint', (c) => c.notNull())
        .addColumn('pid', 'integer')
        .addColumn('start_ticks', 'text')
        .addColumn('port', 'integer')
        .addColumn('restarts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_exit', 'text')
        .addColumn('started_at', 'bigint')
        .addUniqueConstraint('instances_release_service_idx', ['release_id', 'service', 'idx'])
        .execute();
      await db.schema
        .createTable('port_leases')
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('instance_id', 'integer', (c) => c.notNull().references('instances.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('port_leases_pk', ['host', 'port'])
        .execute();
      await db.schema
        .createTable('events')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('app', 'text', (c) => c.notNull())
        .addColumn('environment', 'text')
        .addColumn('service', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .execute();
      await sql`create index events_app_at on events (app, at)`.execute(db);
    },
  },
  '0002_environment_branch': {
    async up(db: Kysely<any>) {
      // The branch an environment runs, and the manifest environment it was made from (null before environments existed).
      await db.schema.alterTable('environments').addColumn('branch', 'text').execute();
      await db.schema.alterTable('environments').addColumn('definition', 'text').execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
