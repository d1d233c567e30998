import type { ServiceSpec } from '../../config/manifest-types.js';
import { storedManifest } from '../../config/stored-manifest.js';
import { BerthError } from '../../core/errors.js';
import type { DeployContext } from '../deploy/context.js';
import type { StepDeps } from '../deploy/step-deps.js';

/**
 * A managed database in a deploy's wave. Blue-green does not apply to a database: two servers
 * cannot share one data directory, and its clients hold connections. So an environment has one
 * instance per database service, carried from release to release (the instance moves to the new
 * release, keeping its port, data and process), restarted only when what it runs changed
 * (`resources`); its major version never changes under its data. Undone, it moves back.
 */
export async function startDatabase(
  d: StepDeps,
  ctx: DeployContext,
  spec: ServiceSpec,
  releaseId: number,
  create: () => Promise<number[]>,
): Promise<void> {
  const all = await d.store.instances.list({ environmentId: ctx.environmentId, service: spec.name });
  let id = all.find((v) => v.releaseId === releaseId)?.id; // a step resumed
  if (id === undefined) {
    const kept = all
      .filter((v) => (JSON.parse(v.spec) as ServiceSpec).kind === spec.kind)
      .sort((a, b) => b.id - a.id)[0];
    if (kept) {
      const old = JSON.parse(kept.spec) as ServiceSpec;
      if (old.database?.version !== spec.database?.version)
        throw new BerthError(
          'invalid',
          'database_version_change',
          `service "${spec.name}": its data is ${engineName(spec)} ${old.database?.version}'s, and berth.yaml asks for ${spec.database?.version}`,
          {
            hint: `keep ${spec.kind}: ${old.database?.version}; a major upgrade needs its data converted (pg_upgrade), which Berth does not do: dump, deploy a new service, restore`,
          },
        );
      await d.store.instances.moveTo(kept.id, releaseId, JSON.stringify(spec), ctx.release.dir);
      id = kept.id;
      if (runKey(old) !== runKey(spec)) await d.instances.stop(id); // started again below with the new limits
    } else id = (await create())[0];
  }
  if (id === undefined) throw new Error(`no instance of ${spec.name} was recorded`);
  await d.instances.start(id); // nothing when it runs
  await d.instances.waitReady(id, spec.health.startTimeoutMs + 1000);
  const v = await d.store.instances.get(id);
  if (v) await d.instances.databases.restoreSeed(v, spec);
}

/**
 * Undoes startDatabase: the instance goes back to the release it came from (restarted if what it
 * runs differs), or is removed when that release had no such database. Its data stays.
 */
export async function undoDatabase(d: StepDeps, ctx: DeployContext, spec: ServiceSpec): Promise<void> {
  const row = await d.store.releases.byNumber(ctx.environmentId, ctx.release.number);
  if (!row) return;
  const mine = await d.store.instances.list({ releaseId: row.id, service: spec.name });
  if (mine.length === 0) return;
  const previous = ctx.previous ? await d.store.releases.get(ctx.previous.id) : undefined;
  const before =
    previous && storedManifest(previous.manifest).services.find((s) => s.name === spec.name && s.kind === spec.kind);
  for (const v of mine) {
    if (!previous || !before) {
      await d.instances.remove(v.id);
      continue;
    }
    await d.store.instances.moveTo(v.id, previous.id, JSON.stringify(before), previous.dir);
    if (runKey(before) !== runKey(JSON.parse(v.spec) as ServiceSpec)) await d.instances.stop(v.id);
    await d.instances.start(v.id);
    await d.instances.waitReady(v.id, before.health.startTimeoutMs + 1000);
  }
}

/** What the server process depends on: a change of it restarts the database at a deploy. */
function runKey(spec: ServiceSpec): string {
  return JSON.stringify({
    database: spec.database,
    resources: spec.resources ?? null,
    ...(spec.container?.imageId !== undefined ? { image: spec.container.imageId } : {}),
  });
}

function engineName(spec: ServiceSpec): string {
  return spec.kind === 'postgres' ? 'PostgreSQL' : 'Redis';
}
