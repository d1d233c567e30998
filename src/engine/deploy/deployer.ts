import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { loadManifest, MANIFEST_FILE, parseManifest, type ManifestParse } from '../../config/manifest.js';
import type { EnvironmentSpec, Manifest } from '../../config/manifest-types.js';
import { assertBranch, environmentFor, manifestForEnvironment } from '../../core/environments.js';
import { planDeploy } from '../../core/deploy-plan.js';
import { BerthError, describe } from '../../core/errors.js';
import { assertName } from '../../core/names.js';
import { runCommand } from '../../system/command.js';
import { resolveUnder } from '../../system/paths.js';
import { EnvironmentLocks, type LockOptions } from '../environment-locks.js';
import type { Repos } from '../../store/store.js';
import { assertRoutesFree, tlsFallbackWarnings } from '../route-sync.js';
import { leasedConflict } from '../port-allocator.js';
import { DEFAULT_ENV } from '../apps.js';
import type { DeployContext } from './context.js';
import { Journal, newJournal, stepResult, type JournalDoc, type StepRecord } from './journal.js';
import { sourceDigest } from './digest.js';
import { currentBranch } from './source.js';
import { DeploySteps, type StepDeps } from './steps.js';
import { storedManifest } from '../../config/stored-manifest.js';
import { removeTree } from '../../system/safe-tree.js';
import type { DeployResult } from '../../core/results.js';

export interface DeployRequest {
  readonly dir: string;
  /** Default: the branch's environment when the manifest declares environments, else "production". */
  readonly env?: string | undefined;
  readonly ref?: string | undefined;
  /** Deploy this branch (archived from the repository) into the environment that accepts it. */
  readonly branch?: string | undefined;
  /** With `branch`: the ref holding its commit, when not refs/heads/<branch> (a webhook deploys what it fetched). */
  readonly branchRef?: string | undefined;
  /** A new app may take over the data an earlier app of that name left (`berth rm` without --purge): root on the host only. */
  readonly adoptKeptData?: boolean | undefined;
  /** Refuse when the source's manifest names another app (a redeploy of a registered app, a webhook). */
  readonly expectApp?: string | undefined;
  /** The organisation a new app goes into (default "default"); an existing app stays in its own. */
  readonly org?: string | undefined;
  /** Wait for a running deployment of the same environment instead of failing at once. */
  readonly wait?: boolean;
  /** Deploy although pre-flight found errors; the result lists what was ignored. */
  readonly force?: boolean;
  readonly onStep?: (steps: readonly StepRecord[]) => void;
}

export interface RollbackRequest {
  readonly app: string;
  readonly env: string;
  /** Release number; default: the one before the current. */
  readonly release?: number | undefined;
  readonly wait?: boolean;
  readonly onStep?: (steps: readonly StepRecord[]) => void;
}

/**
 * Deployments: the one path by which a release becomes current (`berth deploy`, `berth up`,
 * `berth rollback`). One at a time per environment; journaled; undone completely on
 * failure before the switch, completed after it; resumed or undone after a crash.
 */
export class Deployer {
  readonly #d: StepDeps;
  /** The per-environment locks; shared with everything else that changes an environment's instances. */
  readonly locks: EnvironmentLocks;

  constructor(deps: StepDeps) {
    this.#d = deps;
    this.locks = new EnvironmentLocks(deps.store);
  }

  async deploy(request: DeployRequest): Promise<DeployResult> {
    if (request.env !== undefined) assertName('environment', request.env);
    if (request.branch !== undefined) assertBranch(request.branch);
    if (request.branch !== undefined && request.ref !== undefined)
      throw new BerthError('invalid', 'branch_and_ref', '--branch and --ref cannot be used together', {
        hint: '--branch deploys the tip of a branch into its environment; --ref a commit or tag',
      });
    const ref = request.branch !== undefined ? (request.branchRef ?? `refs/heads/${request.branch}`) : request.ref;
    const parse = this.#d.parseManifest ?? parseManifest;
    const loaded = ref ? await manifestAtRef(request.dir, ref, parse) : await loadManifest(request.dir, parse);
    const dir = loaded.dir;
    const target = await this.#target(loaded.manifest, dir, request);
    const { manifest } = target;
    const req = { ...request, ref, env: target.env };
    return this.exclusive(manifest.app, req.env, req.wait ?? false, async () => {
      await this.#checkBranch(manifest.app, target);
      const orgId = await this.#checkQuota(manifest, req.env, req.org);
      await this.#preflight(manifest, dir, req.env, orgId);
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
      const created = !(await this.#d.store.apps.find(manifest.app));
      const keptData =
        created &&
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
        await this.#checkQuotaInTransaction(r, orgId, manifest, req.env, created);
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
          createdApp: created,
          ...(keptData ? { keptData: true } : {}),
          createdEnv: environment.created,
          manifest,
          release: { number, dir: resolveUnder(this.#d.layout.releasesDir(manifest.app, req.env), String(number)) },
          previous: previousRow,
          source: { dir, ref: req.ref, digest, ...(target.origin ? { branch: target.origin.branch } : {}) },
          ...(copyFrom ? { copyDataFrom: copyFrom } : {}),
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
        if (orgId !== undefined) await this.#checkQuotaInTransaction(r, orgId, manifest, req.env, false); // the release rolled back to may run more instances
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
    return this.#finish(id, journal, ctx, kind, error, [...ignored, ...warnings]);
  }

  async #finish(
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
      await this.#d.store.attempts.finish(ctx.app, ctx.env, ctx.release.number, final, error ?? null, Date.now());
    if (final !== 'succeeded' && ctx.createdApp) {
      this.#d.users?.reclaim(this.#d.layout.appLogRoot(ctx.app)); // its user goes: the logs become root's
      removeTree(path.dirname(this.#d.layout.releasesDir(ctx.app, ctx.env)));
      if (!ctx.keptData) {
        this.#d.users?.reclaim(this.#d.layout.appDataRoot(ctx.app));
        this.#d.users?.reclaim(path.join(this.#d.layout.root, 'homes', ctx.app));
        removeTree(this.#d.layout.appDataRoot(ctx.app)); // a new app's data dir holds only what its failed start wrote
        removeTree(path.join(this.#d.layout.root, 'homes', ctx.app));
      }
      await this.#d.users
        ?.remove(ctx.app, [ctx.env])
        .catch((err) => this.#d.log.warn({ app: ctx.app, err: describe(err) }, 'removing the app user failed'));
      const app = await this.#d.store.apps.find(ctx.app);
      if (app) await this.#d.store.write((r) => r.apps.delete(app.id));
      await this.#d.routes.sync();
    } else if (final !== 'succeeded' && ctx.createdEnv) {
      this.#d.users?.reclaim(this.#d.layout.logDir(ctx.app, ctx.env));
      for (const dir of [
        this.#d.layout.releasesDir(ctx.app, ctx.env),
        this.#d.layout.dataDir(ctx.app, ctx.env),
        path.join(this.#d.layout.root, 'homes', ctx.app, ctx.env),
      ]) {
        this.#d.users?.reclaim(dir); // root's first: nothing of the environment's user can be swapped in while it goes
        removeTree(dir);
      }
      await this.#d.users
        ?.remove(ctx.app, [ctx.env])
        .catch((err) => this.#d.log.warn({ app: ctx.app, err: describe(err) }, 'removing the environment user failed'));
      await this.#d.store.write((r) => r.apps.deleteEnvironment(ctx.environmentId));
      await this.#d.routes.sync();
    } else {
      await this.#d.store.deployments.update(id, {
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
    await this.#d.store.events.append({
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
    this.#d.onFinished?.(result, ctx.manifest);
    return result;
  }

  /** One deployment (or environment removal) per environment: a second fails at once naming the running one, or waits. */
  exclusive<T>(app: string, env: string, wait: boolean | LockOptions, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(app, env, typeof wait === 'boolean' ? { wait, what: 'a deployment' } : wait, fn);
  }

  /**
   * Where a deploy goes. Without declared environments: `--env` (default production), as
   * given. With them: the branch (`--branch`, or the checkout's) picks the environment, and
   * the manifest is the one that environment runs (its hosts, its env). There is no way to
   * put another branch into an environment with a fixed branch.
   */
  async #target(declared: Manifest, dir: string, req: DeployRequest): Promise<DeployTarget> {
    if (req.expectApp !== undefined && declared.app !== req.expectApp) {
      throw new BerthError(
        'invalid',
        'app_renamed',
        `this source's berth.yaml names app "${declared.app}", not "${req.expectApp}"`,
        { hint: 'a deploy of an app cannot make another one' },
      );
    }
    // Environments are defined by what the app's fixed branch (production) runs, not by the branch being
    // deployed: a feature branch cannot give itself a copy of production's data or another hostname.
    const found = await this.#trustedEnvironments(declared.app);
    if (found && 'missing' in found) {
      // Its fixed environment runs no release that defines environments (removed, rolled back): only its own branch deploys now.
      const branch = req.branch ?? (await currentBranch(dir));
      if (branch !== found.missing) {
        throw new BerthError(
          'conflict',
          'no_trusted_environments',
          `${declared.app}'s fixed environment runs no release that defines its environments, so no other branch deploys until it does`,
          { hint: `deploy branch ${found.missing} first: berth deploy --branch ${found.missing}` },
        );
      }
    }
    const trusted = found && !('missing' in found) ? found : undefined;
    if (!trusted && declared.environments.length === 0) {
      if (req.branch !== undefined) {
        throw new BerthError(
          'invalid',
          'no_environments',
          `${declared.app}'s berth.yaml declares no environments, so no environment takes branch "${req.branch}"`,
          {
            hint: 'declare them (environments: { production: { branch: main }, preview: { branch: "feature/*", hostname: "{branch}.preview.example.com" } }), or deploy with --ref and --env',
          },
        );
      }
      return { env: req.env ?? DEFAULT_ENV, manifest: declared, origin: null, spec: null };
    }
    const envs = trusted ?? declared.environments;
    if (req.ref !== undefined && req.branch === undefined) {
      throw new BerthError(
        'invalid',
        'ref_with_environments',
        `${declared.app} declares environments by branch, so it deploys branches, not --ref ${req.ref}`,
        { hint: 'use --branch <name>, or deploy from a checkout of the branch' },
      );
    }
    const branch = req.branch ?? (await currentBranch(dir));
    if (branch === undefined) {
      throw new BerthError(
        'invalid',
        'branch_unknown',
        `${declared.app} declares environments by branch, and ${dir} is not on a git branch (not a git checkout, or a detached HEAD)`,
        {
          hint: `deploy from a checkout of the branch, or name it: berth deploy --branch ${envs[0]?.branch.replace('*', 'x') ?? 'main'}`,
        },
      );
    }
    let { spec, name } = environmentFor(envs, assertBranch(branch));
    if (trusted && !spec.pattern) {
      // The fixed branch itself: its own manifest may change the environments (and must still take it).
      if (declared.environments.length === 0)
        return { env: name, manifest: declared, origin: { branch, definition: spec.name }, spec: null };
      ({ spec, name } = environmentFor(declared.environments, branch));
    }
    if (req.env !== undefined && req.env !== name) {
      const fixed = envs.find((e) => e.name === req.env && !e.pattern);
      throw new BerthError(
        'invalid',
        'wrong_environment',
        `branch "${branch}" deploys into environment "${name}", not "${req.env}"`,
        {
          hint: fixed
            ? `"${req.env}" only ever runs branch "${fixed.branch}"; drop --env`
            : 'drop --env: the branch picks the environment',
        },
      );
    }
    return {
      env: name,
      manifest: {
        ...manifestForEnvironment(declared, spec, name),
        environments: spec.pattern && trusted ? trusted : declared.environments,
      },
      origin: { branch, definition: spec.name },
      spec,
    };
  }

  /**
   * The environments of the release the app's first fixed-branch environment (production)
   * runs. The oldest one, so a branch cannot make itself one and be trusted instead; while
   * an app has environments but none of them runs a fixed branch's release, `'missing'`.
   */
  async #trustedEnvironments(app: string): Promise<readonly EnvironmentSpec[] | { missing: string } | undefined> {
    // A fixed branch's environment is named after its definition (a pattern's after the branch).
    const envs = (await this.#d.store.apps.environments({ app }))
      .filter((e) => e.definition && e.branch && e.name === e.definition)
      .sort((a, b) => a.createdAt - b.createdAt || a.id - b.id);
    for (const e of envs.slice(0, 1)) {
      if (!e.currentReleaseId || !e.definition || !e.branch) continue;
      const release = await this.#d.store.releases.get(e.currentReleaseId);
      const envs = release ? storedManifest(release.manifest).environments : [];
      const own = envs.find((x) => x.name === e.definition);
      if (own && !own.pattern && own.branch === e.branch) return envs;
    }
    return envs[0]?.branch ? { missing: envs[0].branch } : undefined;
  }

  /**
   * The app's organisation (a new app: the requested one), and its quotas: apps, and
   * instances over every environment once this one runs the new manifest. A first look
   * before any work; `#checkQuotaInTransaction` decides.
   */
  async #checkQuota(manifest: Manifest, env: string, orgName: string | undefined): Promise<number> {
    const existing = await this.#d.store.apps.find(manifest.app);
    if (existing && orgName !== undefined && orgName !== existing.org) {
      throw new BerthError(
        'conflict',
        'app_in_other_org',
        `app "${manifest.app}" belongs to organisation "${existing.org}", not "${orgName}"`,
        { hint: 'app names are unique on a host; rename the app in berth.yaml' },
      );
    }
    const org = existing
      ? await this.#d.store.identity.orgById(existing.orgId)
      : await this.#d.store.identity.org(orgName ?? 'default');
    if (!org)
      throw new BerthError('not_found', 'org_not_found', `no organisation "${orgName}"`, {
        hint: 'see berth org ls; the host admin creates them: berth org create <name>',
      });
    await this.#checkQuotaInTransaction(this.#d.store, org.id, manifest, env, !existing);
    return org.id;
  }

  /**
   * The quotas, checked again inside the transaction that registers the deployment, so two
   * deploys at once cannot both take the last places. Instances count per environment of
   * the organisation: what a deployment still in progress will run, else what runs now.
   */
  async #checkQuotaInTransaction(
    r: Repos,
    orgId: number,
    manifest: Manifest,
    env: string,
    newApp: boolean,
  ): Promise<void> {
    const org = await r.identity.orgById(orgId);
    if (!org) return;
    if (newApp && org.maxApps !== null && (await r.apps.countInOrg(orgId)) >= org.maxApps) {
      throw new BerthError(
        'conflict',
        'quota_apps',
        `organisation "${org.name}" has reached its quota of ${org.maxApps} app(s)`,
        { hint: 'remove an app (berth rm), or ask the host admin to raise it: berth org quota' },
      );
    }
    if (org.maxInstances === null) return;
    const key = (app: string, e: string) => `${app}\0${e}`;
    const perEnvironment = new Map<string, number>();
    for (const v of await r.instances.list({ orgIds: [orgId] })) {
      if (v.current && v.desired === 'running')
        perEnvironment.set(key(v.app, v.env), (perEnvironment.get(key(v.app, v.env)) ?? 0) + 1);
    }
    for (const d of await r.deployments.running()) {
      const c = (JSON.parse(d.steps) as JournalDoc<Partial<DeployContext>>).context;
      if (!c.app || !c.env || !c.manifest?.services) continue;
      if (!this.locks.busy(c.app, c.env)) continue; // a row left 'running' by a crash it could not recover from plans nothing
      if ((await r.apps.find(c.app))?.orgId !== orgId) continue;
      perEnvironment.set(key(c.app, c.env), wantedInstances(c.manifest));
    }
    perEnvironment.delete(key(manifest.app, env));
    const others = [...perEnvironment.values()].reduce((a, b) => a + b, 0);
    const wanted = wantedInstances(manifest);
    if (others + wanted > org.maxInstances) {
      throw new BerthError(
        'conflict',
        'quota_instances',
        `organisation "${org.name}" may run ${org.maxInstances} instance(s); it runs ${others} elsewhere and this deploy needs ${wanted} (a deployment in progress counts with what it will run)`,
        { hint: 'lower instances:, stop something, or ask the host admin to raise it: berth org quota' },
      );
    }
  }

  /** Two branches that make the same environment name ("feature/x", "feature-x") are refused, naming both. */
  async #checkBranch(app: string, target: DeployTarget): Promise<void> {
    if (!target.origin) return;
    const existing = (await this.#d.store.apps.environments({ app, env: target.env }))[0];
    if (existing?.branch && existing.branch !== target.origin.branch) {
      throw new BerthError(
        'conflict',
        'environment_branch_clash',
        `environment "${target.env}" of ${app} already runs branch "${existing.branch}"; branch "${target.origin.branch}" makes the same name`,
        {
          hint: `rename one of the branches, or remove the other environment: berth env rm ${app} ${target.env}`,
        },
      );
    }
  }

  async #preflight(manifest: Manifest, dir: string, env: string, orgId: number): Promise<void> {
    const existing = await this.#d.store.apps.find(manifest.app);
    if (existing && existing.sourceDir !== dir) {
      throw new BerthError(
        'conflict',
        'app_exists',
        `app "${manifest.app}" is already registered from ${existing.sourceDir}`,
        {
          hint: `give this app another name in berth.yaml, or remove the other one first: berth rm ${manifest.app}`,
        },
      );
    }
    await assertRoutesFree(this.#d.store, manifest.app, env, manifest.services, orgId);
    for (const spec of manifest.services) {
      if (typeof spec.port !== 'number') continue;
      const owner = await this.#d.store.leases.owner(this.#d.ports.host, spec.port);
      if (owner && !(owner.app === manifest.app && owner.env === env && owner.service === spec.name)) {
        throw leasedConflict(`pinned port ${spec.port} for service "${spec.name}"`, owner, orgId);
      }
      if (!owner) this.#d.ports.assertFree(spec.port);
    }
  }

  async #allHealthy(releaseId: number): Promise<boolean> {
    return (await this.#d.store.instances.list({ releaseId })).every(
      (v) => v.state === 'healthy' || v.desired === 'stopped',
    );
  }

  /**
   * At boot, before instances are adopted: a deployment berthd was running when it died is
   * completed if traffic had already moved to the new release, and undone otherwise.
   * Then release directories that no release owns are removed.
   */
  async recover(): Promise<void> {
    for (const row of await this.#d.store.deployments.running()) {
      const doc = JSON.parse(row.steps) as JournalDoc<DeployContext>;
      const ctx = doc.context;
      const journal = new Journal(this.#d.store, row.id, doc);
      const steps = new DeploySteps(this.#d, ctx);
      const at = doc.steps.find((s) => s.status === 'running')?.name ?? 'between steps';
      try {
        if (journal.switched()) {
          const { warnings } = await journal.run(steps);
          await this.#finish(row.id, journal, ctx, row.kind as 'deploy', undefined, [
            `berthd stopped during "${at}"; completed after restart`,
            ...warnings,
          ]);
        } else {
          const error = await journal.undo(steps, `berthd stopped during "${at}"; undone after restart`);
          await this.#finish(row.id, journal, ctx, row.kind as 'deploy', error, [], 'interrupted');
        }
      } catch (err) {
        this.#d.log.error({ err: describe(err), deployment: row.id }, 'recovering a deployment failed');
      }
    }
    await this.#removeOrphanReleaseDirs();
  }

  async #removeOrphanReleaseDirs(): Promise<void> {
    const root = path.join(this.#d.layout.root, 'releases');
    if (!existsSync(root)) return;
    const owned = new Set((await this.#d.store.releases.all()).map((r) => r.dir));
    for (const app of readdirSync(root)) {
      for (const env of readdirSync(path.join(root, app))) {
        for (const n of readdirSync(path.join(root, app, env))) {
          const dir = path.join(root, app, env, n);
          if (!owned.has(dir)) removeTree(dir);
        }
      }
    }
  }
}

interface DeployTarget {
  readonly env: string;
  readonly manifest: Manifest;
  readonly origin: { readonly branch: string; readonly definition: string } | null;
  readonly spec: EnvironmentSpec | null;
}

/** The manifest as committed at `ref` (read with `git show`, argv only). */
async function manifestAtRef(
  dir: string,
  ref: string,
  parse: ManifestParse,
): Promise<{ manifest: Manifest; dir: string }> {
  const prefix = await runCommand(['git', '-C', dir, 'rev-parse', '--show-prefix']);
  if (prefix.code !== 0)
    throw new BerthError('invalid', 'not_git', `--ref needs a git repository, and ${dir} is not one`, {
      hint: 'drop --ref to deploy the working tree',
    });
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/.test(ref) || ref.includes('..'))
    throw new BerthError('invalid', 'invalid_ref', `--ref ${JSON.stringify(ref)} is not a branch, tag or commit name`);
  const shown = await runCommand(['git', '-C', dir, 'show', `${ref}:${prefix.stdout.trim()}${MANIFEST_FILE}`]);
  if (shown.code !== 0)
    throw new BerthError(
      'invalid',
      'manifest_missing',
      `${ref} has no ${MANIFEST_FILE} in ${dir}: ${shown.stderr.trim()}`,
    );
  return { manifest: await parse(shown.stdout, `${MANIFEST_FILE}@${ref}`), dir: path.resolve(dir) };
}

/** The names of a release's services (none without a release). */
function servicesOf(release: { readonly manifest: string } | undefined): string[] {
  return release ? storedManifest(release.manifest).services.map((s) => s.name) : [];
}

function wantedInstances(manifest: Manifest): number {
  return manifest.services.reduce((n, s) => n + (s.kind === 'process' ? s.instances : 0), 0);
}
