import path from 'node:path';
import type { ServiceSpec } from '../../config/manifest-types.js';
import type { DeployContext } from '../deploy/context.js';
import type { StepDeps } from '../deploy/step-deps.js';
import { databaseBinaries } from '../../system/database-binaries.js';
import { isDatabase } from './connection.js';
import { ownDir } from './files.js';
import { databaseDir } from './layout.js';
import { dumpDatabase, seedFile } from './postgres.js';
import { copyRedis } from './redis.js';

/**
 * The databases' part of a new environment's `copy data` step (`data: { copy: <env> }`): each
 * database of the manifest that runs in the source environment is copied into the new
 * environment's own, never shared: PostgreSQL with pg_dump (a consistent snapshot, custom
 * format) into a dump that the new cluster restores at its first start; Redis with an RDB
 * snapshot made the base of the new server's append-only files. The copies are taken as the
 * source environment's user with its password (the new environment never learns it) and handed
 * to the new environment's. The new environment gets its own cluster, port and password.
 * Returns the services copied. The step's undo removes the data directory, and these with it.
 */
export async function copyDatabases(d: StepDeps, ctx: DeployContext, from: string): Promise<string[]> {
  const copied: string[] = [];
  const dbs = d.instances.databases;
  for (const spec of ctx.manifest.services.filter(isDatabase)) {
    const source = (await d.store.instances.list({ app: ctx.app, env: from, service: spec.name })).find(
      (v) => v.desired === 'running' && v.port !== null && (JSON.parse(v.spec) as ServiceSpec).kind === spec.kind,
    );
    if (!source || source.port === null) continue; // nothing runs there yet: this one starts empty
    const sourceSpec = JSON.parse(source.spec) as ServiceSpec;
    const bin = databaseBinaries(
      sourceSpec.database ?? (spec.database as NonNullable<ServiceSpec['database']>),
      spec.name,
    );
    const from_ = {
      port: source.port,
      password: await dbs.password(ctx.app, from, spec.name),
      ids: await dbs.runAs(ctx.app, from),
    };
    const owner = await dbs.runAs(ctx.app, ctx.env);
    const dir = databaseDir(d.layout, ctx.app, ctx.env, spec.name);
    ownDir(path.dirname(dir), d.users?.enabled ? owner : undefined);
    ownDir(dir, owner);
    if (spec.kind === 'postgres') await dumpDatabase(bin, from_, seedFile(dir), owner);
    else await copyRedis(bin, from_, dir, owner);
    copied.push(spec.name);
  }
  return copied;
}
