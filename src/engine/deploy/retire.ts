import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Manifest, ServiceSpec } from '../../config/manifest-types.js';
import { describe } from '../../core/errors.js';
import { removeTreeOffThread } from '../../system/tree-removal.js';
import type { DeployContext } from './context.js';
import { builtImagesOf, removeImages } from './image-builds.js';
import { removeStalePulls } from './image-pulls.js';
import type { StepDeps } from './step-deps.js';
import { removeAll } from './wave.js';

/**
 * What a deployment does with the release it replaced, once traffic has switched: wait for its
 * requests in flight to finish (drain), and later remove releases beyond those kept (prune).
 * Neither is ever undone: they come after the switch.
 */

/** Waits until the proxy has no request in flight to the old release, up to its drain timeout. */
export async function drainOld(d: StepDeps, c: DeployContext): Promise<void> {
  if (!c.previous) return;
  const old = (await d.store.instances.list({ releaseId: c.previous.id })).filter((v) => v.port !== null);
  if (old.length === 0) return;
  const upstreams = old.map((v) => `127.0.0.1:${v.port}`);
  const limit = Math.max(...old.map((v) => (JSON.parse(v.spec) as ServiceSpec).drainMs));
  const deadline = Date.now() + limit;
  while (Date.now() < deadline) {
    const inflight = await d.proxy.inflight(upstreams).catch(() => 0);
    if (inflight === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  d.log.warn(
    { app: c.app, env: c.env, release: c.previous.number },
    'drain timeout: stopping the old release with requests in flight',
  );
}

function removeReleaseLogs(d: StepDeps, c: DeployContext, number: number): void {
  const dir = d.layout.logDir(c.app, c.env);
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir))
    if (f === `build-${number}.log` || new RegExp(`\\.r${number}\\.log(\\.\\d+)?$`).test(f))
      rmSync(path.join(dir, f), { force: true });
}

/** Removes releases beyond `keepReleases` (never the current one), their images and logs, and old attempts' logs. */
export async function pruneReleases(d: StepDeps, c: DeployContext): Promise<void> {
  const releases = await d.store.releases.list(c.environmentId);
  const current = (await d.store.apps.environments({ id: c.environmentId }))[0]?.currentReleaseId;
  const keep = new Set(releases.slice(0, d.keepReleases).map((r) => r.id));
  for (const r of releases) {
    if (keep.has(r.id) || r.id === current) continue;
    try {
      await removeAll(d.instances, await d.store.instances.list({ releaseId: r.id }));
      await d.store.releases.delete(r.id);
      if (existsSync(r.dir)) await removeTreeOffThread(r.dir);
      const services = (JSON.parse(r.manifest) as Manifest).services;
      for (const kept of [
        ...(await removeImages(d.engine, builtImagesOf(services))),
        ...(await removeStalePulls(d.engine, d.store, services)),
      ])
        d.log.warn({ image: kept, release: r.number }, 'an image of a pruned release was left');
      removeReleaseLogs(d, c, r.number);
    } catch (err) {
      d.log.warn({ err: describe(err), release: r.number }, 'pruning a release failed');
    }
  }
  // Logs of releases pruned go with them; of attempts that made no release, the newest `keepReleases` stay.
  const failed = (await d.store.attempts.list(c.app, c.env))
    .filter((a) => a.status !== 'succeeded' && a.status !== 'running')
    .slice(0, d.keepReleases);
  const kept = new Set([
    ...releases.filter((r) => keep.has(r.id) || r.id === current).map((r) => r.number),
    ...failed.map((a) => a.number),
  ]);
  const dir = d.layout.logDir(c.app, c.env);
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    const n = Number(/^build-(\d+)\.log$/.exec(f)?.[1] ?? /\.r(\d+)\.log(\.\d+)?$/.exec(f)?.[1] ?? NaN);
    if (n < c.release.number && !kept.has(n)) rmSync(path.join(dir, f), { force: true });
  }
}
