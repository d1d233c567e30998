import { sql, type Kysely, type Migration } from 'kysely';

/** Migrations see tables as they were then, not as schema.ts describes them now (Kysely's advice). */
export type Schemaless = Record<string, Record<string, unknown>>;

/** The first six migrations: apps, releases and instances, identity, secrets, webhooks, sites (see migrations.ts). */
export const foundationMigrations: Record<string, Migration> = {
  '0001_core': {
    async up(db: Kysely<Schemaless>) {
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
    async up(db: Kysely<Schemaless>) {
      // The branch an environment runs, and the manifest environment it was made from (null before environments existed).
      await db.schema.alterTable('environments').addColumn('branch', 'text').execute();
      await db.schema.alterTable('environments').addColumn('definition', 'text').execute();
    },
  },
  '0003_identity': {
    async up(db: Kysely<Schemaless>) {
      await db.schema
        .createTable('orgs')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('max_apps', 'integer')
        .addColumn('max_instances', 'integer')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.insertInto('orgs').values({ name: 'default', created_at: Date.now() }).execute();
      await db.schema
        .createTable('users')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('memberships')
        .addColumn('org_id', 'integer', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('memberships_pk', ['org_id', 'user_id'])
        .execute();
      // API tokens and dashboard sessions: only a SHA-256 of the secret is stored.
      await db.schema
        .createTable('tokens')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        .addColumn('csrf_hash', 'text')
        .addColumn('org_id', 'integer', (c) => c.references('orgs.id').onDelete('cascade'))
        .addColumn('role_ceiling', 'text')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema
        .createTable('invites')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('org_id', 'integer', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('used_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
        .execute();
      await db.schema
        .createTable('audit')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('org', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .execute();
      await sql`create index audit_org_at on audit (org, at)`.execute(db);
      // Every app belongs to an organisation; those from before organisations to "default".
      await db.schema
        .alterTable('apps')
        .addColumn('org_id', 'integer', (c) => c.references('orgs.id'))
        .execute();
      await sql`update apps set org_id = (select id from orgs where name = 'default')`.execute(db);
    },
  },
  '0004_secrets': {
    async up(db: Kysely<Schemaless>) {
      // AES-256-GCM: iv, tag and ciphertext (base64), bound to app/env/name as associated data. env '' is every environment.
      await db.schema
        .createTable('secrets')
        .addColumn('app_id', 'integer', (c) => c.notNull().references('apps.id').onDelete('cascade'))
        .addColumn('env', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('secrets_pk', ['app_id', 'env', 'name'])
        .execute();
    },
  },
  '0005_webhooks': {
    async up(db: Kysely<Schemaless>) {
      // The HMAC secret of an app's push webhook, sealed like the app's secrets.
      await db.schema
        .createTable('webhooks')
        .addColumn('app_id', 'integer', (c) => c.primaryKey().references('apps.id').onDelete('cascade'))
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0006_sites': {
    async up(db: Kysely<Schemaless>) {
      // Sites made from templates. The row comes first ('creating'): the slug's one winner; it
      // becomes 'active' last. A 'creating' row after a crash is undone at boot.
      await db.schema
        .createTable('sites')
        .addColumn('slug', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'integer', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
        .addColumn('template', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};
