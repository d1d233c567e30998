import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MANIFEST_FILE } from '../../config/manifest-basics.js';
import { assertBranch } from '../../core/environments.js';
import { planDeploy } from '../../core/deploy-plan.js';
import { BerthError } from '../../core/errors.js';
import { assertName } from '../../core/names.js';
import { resolveUnder } from '../../system/paths.js';
import { EnvironmentLocks, type LockOptions } from '../environment-locks.js';
import { assertRoutesFree, tlsFallbackWarnings } from '../route-sync.js';
import type { DeployContext, DeployRequest, RollbackRequest } from './context.js';
import { Journal, newJournal, type JournalDoc, type StepRecord } from './journal.js';
import { sourceDigest } from './digest.js';
import { pullsAlways } from './image-pulls.js';
import { manifestAtRef } from './source.js';
import { resolveDeps } from './deps-detect.js';
import type { StepDeps } from './step-deps.js';
import { DeploySteps } from './steps.js';
import { finishDeployment, recoverDeployments } from './deploy-finish.js';
import { Admission } from './admission.js';
import { storedManifest } from '../../config/stored-manifest.js';
import type { DeployResult } from '../../core/results.js';
import { neverDeployed } from '../../store/apps-repo.js';

/**
 * Deployments: the one path by which a release becomes current (`berth deploy`, `berth up`,
 * `berth rollback`). One at a time per environment; journaled; undone completely on
 * failure before the switch, completed after it; resumed or undone after a crash.
 */
export class Deployer {
  readonly #d: StepDeps;
  /** The per-environment locks; shared with everything else that changes an environment's instances. */
  readonly locks: EnvironmentLocks;
  readonly #admission: Admission;

  constructor(deps: StepDeps) {
    this.#d = deps;
    this.locks = new EnvironmentLocks(deps.store);
    this.#admission = new Admission(deps, this.locks);
  }

  async deploy(request: DeployRequest): Promise<DeployResult> {
    if (request.env !== undefined) assertName('environment', request.env);
    if (request.branch !== undefined) assertBranch(request.branch);
    if (request.branch !== undefined && request.ref !== undefined)
      throw new BerthError('invalid', 'branch_and_ref', '--branch and --ref cannot be used together', {
        hint: '--branch deploys the tip of a branch into its environment; --ref a commit or tag',
      });
    const ref = request.branch !== undefined ? (request.branchRef ?? `refs/heads/${request.branch}`) : request.ref;
    // The parser (zod, yaml) loads on the first deploy, not at berthd's start (config/manifest-basics).
    const { loadManifest, parseManifest } = await import('../../config/manifest.js');
    const parse = this.#d.parseManifest ?? parseManifest;
    const loaded = ref ? await manifestAtRef(request.dir, ref, parse) : await loadManifest(request.dir, parse);
    const dir = loaded.dir;
    const target = await this.#admission.target(loaded.manifest, dir, request);
    const manifest = await resolveDeps(target.manifest, { dir, ref });
    const req = { ...request, ref, env: target.env };
    return this.exclusive(manifest.app, req.env, req.wait ?? false, async () => {
      await this.#admission.checkBranch(manifest.app, target);
      const orgId = await this.#admission.checkQuota(manifest, req.env, req.org);
      await this.#admission.preflight(manifest, dir, req.env, orgId);
      const ignored = [
        ...(await this.#doctorPreflight(manifest.app, req.force ?? false)),
        ...tlsFallbackWarnings(manifest, this.#d.proxy),
      ];
      // Secrets count as part of what is deployed: a changed secret makes the next deploy restart the app with it.
      const secretStamp = (await this.#d.store.secrets.list(manifest.app))
        .filter((x) => x.env === '' || x.env === req.env)
        .map((x) => `${x.name}@${x.env}:${x.updatedAt}`)
        .join(',');
      const digest =
        (await sourceDigest({ dir, ref: req.ref }, manifest)) +
        (secretStamp ? `+secrets:${createHash('sha256').update(secretStamp).digest('hex').slice(0, 16)}` : '');
      const env = (await this.#d.store.apps.environments({ app: manifest.app, env: req.env }))[0];
      const current = env?.currentReleaseId ? await this.#d.store.releases.get(env.currentReleaseId) : undefined;
      if (
        !req.noCache &&
        !pullsAlways(manifest) &&
        current &&
        (JSON.parse(current.source) as { digest?: string }).digest === digest &&
        (await this.#allHealthy(current.id))
      ) {
        return {
          id: null,
          app: manifest.app,
          env: req.env,
          kind: 'deploy',
          release: current.number,
          status: 'unchanged',
          steps: [],
        } satisfies DeployResult;
      }
      const existing = await this.#d.store.apps.find(manifest.app);
      const created = !existing;
      // Registered by its secrets, never deployed: its first deploy is a new app's, but a failure keeps the registration.
      const registered = existing !== undefined && neverDeployed(existing);
      const keptData =
        (created || registered) &&
        (existsSync(this.#d.layout.appDataRoot(manifest.app)) ||
          existsSync(path.join(this.#d.layout.root, 'homes', manifest.app)));
      if (keptData && req.adoptKeptData === false) {
        throw new BerthError(
          'conflict',
          'data_kept',
          `data of an earlier app named "${manifest.app}" is kept on this host`,
          {
            hint: 'pick another name; the host admin can delete it (berth rm with --purge, before the app was removed)',
          },
        );
      }
      const { id, ctx, doc } = await this.#d.store.write(async (r) => {
        const now = Date.now();
        // Checked again in the transaction: two deploys at once cannot both take the last place.
        await this.#admission.checkQuotaInTransaction(r, orgId, manifest, req.env, created);
        const appId = await r.apps.upsert(manifest.app, dir, path.join(dir, MANIFEST_FILE), now, orgId);
        const environment = await r.apps.environmentId(appId, req.env, now, target.origin);
        const environmentId = environment.id;
        const number = await r.attempts.take(manifest.app, req.env, environmentId, now);
        const previousRow = current ? { id: current.id, number: current.number } : undefined;
        const copyFrom = environment.created && target.spec?.data.kind === 'copy' ? target.spec.data.from : undefined;
        const ctx: DeployContext = {
          app: manifest.app,
          env: req.env,
          environmentId,
          createdApp: created || registered,
          ...(registered ? { registeredApp: true } : {}),
          ...(keptData ? { keptData: true } : {}),
          createdEnv: environment.created,
          manifest,
          release: { number, dir: resolveUnder(this.#d.layout.releasesDir(manifest.app, req.env), String(number)) },
          previous: previousRow,
          source: { dir, ref: req.ref, digest, ...(target.origin ? { branch: target.origin.branch } : {}) },
          ...(copyFrom ? { copyDataFrom: copyFrom } : {}),
          ...(req.noCache ? { noCache: true } : {}),
        };
        const doc = newJournal(
          ctx,
          planDeploy({
            manifest,
            release: number,
            previous: previousRow?.number,
            fresh: true,
            copyDataFrom: copyFrom,
            running: servicesOf(current),
          }),
        );
        return { id: await r.deployments.create(environmentId, 'deploy', JSON.stringify(doc), now), ctx, doc };
      });
      return this.#execute(id, ctx, doc, 'deploy', req.onStep, ignored);
    });
  }

  /**
   * `berth doctor` for the app before anything happens. Errors a deploy does not repair
   * (a foreign process on a leased or pinned port, a route answered by someone else)
   * refuse the deploy, quoting each finding; `force` deploys anyway and says what it ignored.
   */
  async #doctorPreflight(app: string, force: boolean): Promise<string[]> {
    if (!(await this.#d.store.apps.find(app))) return [];
    const blocking = (await this.#d.doctor(app)).filter((f) => f.severity === 'error' && !f.deployFixes);
    const lines = blocking.map((f) => `${f.code}: ${f.message}${f.fix ? ` (fix: ${f.fix})` : ''}`);
    if (blocking.length > 0 && !force) {
      throw new BerthError(
        'conflict',
        'preflight_failed',
        `pre-flight checks found ${blocking.length} problem(s) with ${app}:\n  ${lines.join('\n  ')}`,
        { hint: 'fix them (see `berth doctor ' + app + '`), or deploy with --force' },
      );
    }
    return lines.map((l) => `pre-flight ignored (--force): ${l}`);
  }

  async rollback(req: RollbackRequest): Promise<DeployResult> {
    const env = (await this.#d.store.apps.environments({ app: req.app, env: req.env }))[0];
    if (!env)
      throw new BerthError('not_found', 'environment_not_found', `app "${req.app}" has no environment "${req.env}"`, {
        hint: 'see `berth releases <app>`',
      });
    return this.exclusive(req.app, req.env, req.wait ?? false, async () => {
      const releases = await this.#d.store.releases.list(env.id);
      const current = releases.find((r) => r.id === env.currentReleaseId);
      const target =
        req.release !== undefined
          ? releases.find((r) => r.number === req.release)
          : releases.find((r) => current && r.number < current.number);
      if (!target) {
        throw new BerthError(
          'not_found',
          'release_not_found',
          req.release !== undefined
            ? `release ${req.release} of ${req.app} (${req.env}) is not kept`
            : `${req.app} (${req.env}) has no earlier release to roll back to`,
          {
            hint: `kept releases: ${releases.map((r) => r.number).join(', ') || 'none'}`,
          },
        );
      }
      if (target.id === current?.id)
        throw new BerthError('conflict', 'already_current', `release ${target.number} is already current`);
      const manifest = storedManifest(target.manifest);
      const ctx: DeployContext = {
        app: req.app,
        env: req.env,
        environmentId: env.id,
        createdApp: false,
        manifest,
        release: { number: target.number, dir: target.dir, id: target.id },
        previous: current ? { id: current.id, number: current.number } : undefined,
        source: JSON.parse(target.source) as DeployContext['source'],
      };
      await assertRoutesFree(this.#d.store, req.app, req.env, manifest.services);
      const doc = newJournal(
        ctx,
        planDeploy({
          manifest,
          release: target.number,
          previous: current?.number,
          fresh: false,
          running: servicesOf(current),
        }),
      );
      const orgId = (await this.#d.store.apps.find(req.app))?.orgId;
      const id = await this.#d.store.write(async (r) => {
        if (orgId !== undefined) await this.#admission.checkQuotaInTransaction(r, orgId, manifest, req.env, false); // the release rolled back to may run more instances
        return r.deployments.create(env.id, 'rollback', JSON.stringify(doc), Date.now());
      });
      return this.#execute(id, ctx, doc, 'rollback', req.onStep, tlsFallbackWarnings(manifest, this.#d.proxy));
    });
  }

  async #execute(
    id: number,
    ctx: DeployContext,
    doc: JournalDoc<DeployContext>,
    kind: 'deploy' | 'rollback',
    onStep?: (steps: readonly StepRecord[]) => void,
    ignored: string[] = [],
  ): Promise<DeployResult> {
    const journal = new Journal(this.#d.store, id, { context: ctx, steps: doc.steps }, onStep);
    const steps = new DeploySteps(this.#d, ctx);
    const { error, warnings } = await journal.run(steps);
    return finishDeployment(this.#d, id, journal, ctx, kind, error, [...ignored, ...warnings]);
  }

  /** One deployment (or environment removal) per environment: a second fails at once naming the running one, or waits. */
  exclusive<T>(app: string, env: string, wait: boolean | LockOptions, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(app, env, typeof wait === 'boolean' ? { wait, what: 'a deployment' } : wait, fn);
  }

  async #allHealthy(releaseId: number): Promise<boolean> {
    return (await this.#d.store.instances.list({ releaseId })).every(
      (v) => v.state === 'healthy' || v.desired === 'stopped',
    );
  }

  /**
   * At boot, before instances are adopted: a deployment berthd was running when it died is
   * completed if traffic had already moved to the new release, and undone otherwise (see deploy-finish).
   */
  recover(): Promise<void> {
    return recoverDeployments(this.#d);
  }
}

/** The names of a release's services (none without a release). */
function servicesOf(release: { readonly manifest: string } | undefined): string[] {
  return release ? storedManifest(release.manifest).services.map((s) => s.name) : [];
}
