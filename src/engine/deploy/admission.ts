import type { EnvironmentSpec, Manifest } from '../../config/manifest-types.js';
import { assertBranch, environmentFor, manifestForEnvironment } from '../../core/environments.js';
import { BerthError } from '../../core/errors.js';
import type { Repos } from '../../store/store.js';
import { neverDeployed } from '../../store/apps-repo.js';
import { assertRoutesFree } from '../route-sync.js';
import { swarmFit } from '../swarm-env.js';
import { leasedConflict } from '../port-allocator.js';
import { DEFAULT_ENV } from '../apps.js';
import { currentBranch } from './source.js';
import { storedManifest } from '../../config/stored-manifest.js';
import type { StepDeps } from './step-deps.js';
import type { DeployRequest } from './context.js';
import type { DeployContext } from './context.js';
import type { JournalDoc } from './journal.js';
import type { EnvironmentLocks } from '../environment-locks.js';

/**
 * Whether and where a deployment may go, decided before it starts: the environment its branch
 * picks, the organisation's quota, the branch rule, and the ports and routes it claims.
 */
export class Admission {
  readonly #d: StepDeps;
  readonly #locks: EnvironmentLocks;

  constructor(deps: StepDeps, locks: EnvironmentLocks) {
    this.#d = deps;
    this.#locks = locks;
  }

  /**
   * Where a deploy goes. Without declared environments: `--env` (default production), as
   * given. With them: the branch (`--branch`, or the checkout's) picks the environment, and
   * the manifest is the one that environment runs (its hosts, its env). There is no way to
   * put another branch into an environment with a fixed branch.
   */
  async target(declared: Manifest, dir: string, req: DeployRequest): Promise<DeployTarget> {
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
  async checkQuota(manifest: Manifest, env: string, orgName: string | undefined): Promise<number> {
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
    await this.checkQuotaInTransaction(this.#d.store, org.id, manifest, env, !existing);
    return org.id;
  }

  /**
   * The quotas, checked again inside the transaction that registers the deployment, so two
   * deploys at once cannot both take the last places. Instances count per environment of
   * the organisation: what a deployment still in progress will run, else what runs now.
   */
  async checkQuotaInTransaction(
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
      if (!this.#locks.busy(c.app, c.env)) continue; // a row left 'running' by a crash it could not recover from plans nothing
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
  async checkBranch(app: string, target: DeployTarget): Promise<void> {
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

  async preflight(manifest: Manifest, dir: string, env: string, orgId: number): Promise<void> {
    const existing = await this.#d.store.apps.find(manifest.app);
    if (existing && !neverDeployed(existing) && existing.sourceDir !== dir) {
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
    if (this.#d.swarm) swarmFit(manifest);
    for (const spec of manifest.services) {
      if (typeof spec.port !== 'number') continue;
      const owner = await this.#d.store.leases.owner(this.#d.ports.host, spec.port);
      if (owner && !(owner.app === manifest.app && owner.env === env && owner.service === spec.name)) {
        throw leasedConflict(`pinned port ${spec.port} for service "${spec.name}"`, owner, orgId);
      }
      if (!owner) this.#d.ports.assertFree(spec.port);
    }
  }
}

export interface DeployTarget {
  readonly env: string;
  readonly manifest: Manifest;
  readonly origin: { readonly branch: string; readonly definition: string } | null;
  readonly spec: EnvironmentSpec | null;
}

function wantedInstances(manifest: Manifest): number {
  return manifest.services.reduce((n, s) => n + (s.kind !== 'static' ? s.instances : 0), 0);
}
