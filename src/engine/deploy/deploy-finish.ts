import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe } from '../../core/errors.js';
import type { DeployResult } from '../../core/results.js';
import { removeTree } from '../../system/safe-tree.js';
import { removeTreeOffThread } from '../../system/tree-removal.js';
import type { DeployContext } from './context.js';
import { Journal, stepResult, type JournalDoc } from './journal.js';
import { cutOffHook } from './release-hook.js';
import type { StepDeps } from './step-deps.js';
import { DeploySteps } from './steps.js';

/**
 * How a deployment ends: its attempt, what a failed first deploy made removed (app or environment),
 * its row, its event and its result; and, at boot, the deployments a dead berthd left running.
 */
export async function finishDeployment(
  d: StepDeps,
  id: number,
  journal: Journal<DeployContext>,
  ctx: DeployContext,
  kind: 'deploy' | 'rollback',
  error: string | undefined,
  warnings: string[],
  status?: DeployResult['status'],
): Promise<DeployResult> {
  const final = status ?? (error ? 'failed' : 'succeeded');
  // A failed first deploy takes everything it made with it. Its rows go last (the deployment's
  // with them, by cascade): killed before that, berthd finds it still running and cleans up again.
  // A failed attempt keeps its release number, its build log and its instances' logs (its own by
  // that number: `berth logs <app> --build --release <n>`), also when it was the app's first.
  if (kind === 'deploy')
    await d.store.attempts.finish(ctx.app, ctx.env, ctx.release.number, final, error ?? null, Date.now());
  if (final !== 'succeeded' && ctx.createdApp) {
    d.users?.reclaim(d.layout.appLogRoot(ctx.app)); // its user goes: the logs become root's
    await removeTreeOffThread(path.dirname(d.layout.releasesDir(ctx.app, ctx.env)));
    if (!ctx.keptData) {
      d.users?.reclaim(d.layout.appDataRoot(ctx.app));
      d.users?.reclaim(path.join(d.layout.root, 'homes', ctx.app));
      await removeTreeOffThread(d.layout.appDataRoot(ctx.app)); // a new app's data dir holds only what its failed start wrote
      await removeTreeOffThread(path.join(d.layout.root, 'homes', ctx.app));
    }
    await d.users
      ?.remove(ctx.app, [ctx.env])
      .catch((err) => d.log.warn({ app: ctx.app, err: describe(err) }, 'removing the app user failed'));
    const app = await d.store.apps.find(ctx.app);
    if (app)
      await d.store.write((r) =>
        ctx.registeredApp ? r.apps.unregisterSource(app.id, Date.now()) : r.apps.delete(app.id),
      );
    await d.routes.sync();
  } else if (final !== 'succeeded' && ctx.createdEnv) {
    d.users?.reclaim(d.layout.logDir(ctx.app, ctx.env));
    for (const dir of [
      d.layout.releasesDir(ctx.app, ctx.env),
      d.layout.dataDir(ctx.app, ctx.env),
      path.join(d.layout.root, 'homes', ctx.app, ctx.env),
    ]) {
      d.users?.reclaim(dir); // root's first: nothing of the environment's user can be swapped in while it goes
      await removeTreeOffThread(dir);
    }
    await d.users
      ?.remove(ctx.app, [ctx.env])
      .catch((err) => d.log.warn({ app: ctx.app, err: describe(err) }, 'removing the environment user failed'));
    await d.store.write((r) => r.apps.deleteEnvironment(ctx.environmentId));
    await d.routes.sync();
  } else {
    await d.store.deployments.update(id, {
      status: final,
      error: error ?? (warnings.length ? warnings.join('; ') : null),
      finished_at: Date.now(),
      release_id: final === 'succeeded' ? (ctx.release.id ?? null) : null,
    });
  }
  const message =
    final === 'succeeded'
      ? `${kind} of release ${ctx.release.number} succeeded`
      : `${kind} of release ${ctx.release.number} ${final}: ${error}`;
  await d.store.events.append({
    at: Date.now(),
    app: ctx.app,
    environment: ctx.env,
    service: null,
    kind: `deployment.${final}`,
    message,
  });
  const result: DeployResult = {
    id,
    app: ctx.app,
    env: ctx.env,
    kind,
    release: final === 'succeeded' ? ctx.release.number : null,
    status: final,
    steps: journal.doc.steps.map(stepResult),
    ...(error ? { error } : {}),
    ...(warnings.length ? { warnings } : {}),
  };
  d.onFinished?.(result, ctx.manifest);
  return result;
}

/**
 * At boot, before instances are adopted: a deployment berthd was running when it died is
 * completed if traffic had already moved to the new release, and undone otherwise.
 * Then release directories that no release owns are removed.
 */
export async function recoverDeployments(d: StepDeps): Promise<void> {
  for (const row of await d.store.deployments.running()) {
    const doc = JSON.parse(row.steps) as JournalDoc<DeployContext>;
    const ctx = doc.context;
    const journal = new Journal(d.store, row.id, doc);
    const steps = new DeploySteps(d, ctx);
    const cut = doc.steps.find((s) => s.status === 'running');
    const at = cut?.name ?? 'between steps';
    try {
      if (journal.switched()) {
        const { warnings } = await journal.run(steps, true);
        await finishDeployment(d, row.id, journal, ctx, row.kind as 'deploy', undefined, [
          `berthd stopped during "${at}"; completed after restart`,
          ...warnings,
        ]);
      } else {
        const error = await journal.undo(
          steps,
          `berthd stopped during "${at}"; undone after restart${cutOffHook(cut)}`,
        );
        await finishDeployment(d, row.id, journal, ctx, row.kind as 'deploy', error, [], 'interrupted');
      }
    } catch (err) {
      d.log.error({ err: describe(err), deployment: row.id }, 'recovering a deployment failed');
    }
  }
  await removeOrphanReleaseDirs(d);
}

async function removeOrphanReleaseDirs(d: StepDeps): Promise<void> {
  const root = path.join(d.layout.root, 'releases');
  if (!existsSync(root)) return;
  const owned = new Set((await d.store.releases.all()).map((r) => r.dir));
  for (const app of readdirSync(root)) {
    for (const env of readdirSync(path.join(root, app))) {
      for (const n of readdirSync(path.join(root, app, env))) {
        const dir = path.join(root, app, env, n);
        if (!owned.has(dir)) removeTree(dir);
      }
    }
  }
}
