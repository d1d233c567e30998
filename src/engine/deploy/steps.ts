import { realpathSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { ServiceSpec } from '../../config/manifest-types.js';
import { BerthError } from '../../core/errors.js';
import { resolveUnder } from '../../system/paths.js';
import { assertRoutesFree } from '../route-sync.js';
import { runBuilds, type BuildOutcome } from './build.js';
import { releaseFiles } from './build-units.js';
import { packageCaches } from './deps-steps.js';
import { needsBuild } from '../../core/deploy-plan.js';
import { storedManifest } from '../../config/stored-manifest.js';
import { runPullStep, undoPullStep } from './image-pulls.js';
import { releaseImageTags, removeImages, runImageBuilds, withBuiltImage } from './image-builds.js';
import { runHook, stopHook } from './release-hook.js';
import type { DeployContext } from './context.js';
import type { StepHandle, StepRunner } from './journal.js';
import { snapshot } from './source.js';
import { copyDataDir, copyDataDirAs } from './data-copy.js';
import { copyDatabases } from '../databases/database-copy.js';
import { Redactor } from '../../core/redact.js';
import { removeTree } from '../../system/safe-tree.js';
import { removeTreeOffThread } from '../../system/tree-removal.js';
import { baseEnv } from '../launch-env.js';
import { leaseAddresses } from '../service-addresses.js';
import { HostScheduler, type Scheduler } from '../scheduler.js';
import { pruneReleases } from './retire.js';
import type { StepDeps } from './step-deps.js';

/** A static service's directory: it must exist, and its real path (symlinks followed) stay inside the release. */
export function staticRoot(releaseDir: string, dir: string, service: string): string {
  const root = resolveUnder(releaseDir, dir);
  let real: string;
  try {
    real = realpathSync.native(root);
  } catch {
    throw new BerthError(
      'invalid',
      'static_missing',
      `service "${service}": static directory ${dir} does not exist in the release`,
      { hint: 'build it with `build:`, or fix `static:` in berth.yaml' },
    );
  }
  const base = realpathSync.native(releaseDir);
  if (real !== base && !real.startsWith(base + path.sep)) {
    throw new BerthError(
      'invalid',
      'static_escape',
      `service "${service}": static directory ${dir} leads outside the release (to ${real})`,
      { hint: 'static directories may not be symlinks out of the app' },
    );
  }
  return real;
}

/** The service with the key of its build's inputs, when it was built. */
function withBuildKey(s: ServiceSpec, outcome: BuildOutcome): ServiceSpec {
  const key = outcome.keys.get(s.name);
  const deps = outcome.depsKeys.get(s.name);
  return { ...s, ...(key === undefined ? {} : { buildKey: key }), ...(deps === undefined ? {} : { depsKey: deps }) };
}

/** Each step kind's action and undo. Undos are idempotent and find what to undo in the store. */
export class DeploySteps implements StepRunner {
  readonly #d: StepDeps;
  readonly #ctx: DeployContext;
  /** The snapshot's files (see releaseFiles), for the build's cache; none after a restart (a build is then undone). */
  #files: Map<string, string> | undefined;

  constructor(deps: StepDeps, ctx: DeployContext) {
    this.#d = deps;
    this.#ctx = ctx;
  }

  #spec(name: string): ServiceSpec {
    return this.#ctx.manifest.services.find((s) => s.name === name) as ServiceSpec;
  }

  async run(h: StepHandle): Promise<void> {
    const c = this.#ctx;
    switch (h.step.kind) {
      case 'snapshot': {
        await h.note({ dir: c.release.dir });
        removeTree(c.release.dir);
        const { commit } = await snapshot(c.source, c.release.dir);
        // The app's user builds in it (then it is sealed: root's, readable by the app's group only).
        const ids = await this.#d.users?.ids(c.app, c.env);
        this.#d.users?.rootDirs(ids, [path.dirname(c.release.dir)]);
        if (c.manifest.services.some(needsBuild)) {
          // Read while the release is berthd's alone: what a build may reuse is decided by these.
          this.#files = releaseFiles(c.release.dir);
          this.#d.users?.giveForBuild(ids, c.release.dir);
        } else this.#d.users?.seal(ids, c.release.dir);
        await h.note({ commit: commit ?? null });
        return;
      }
      case 'pull': // before the builds: a registry that refuses fails the deploy before minutes of building
        return runPullStep(this.#d, c, this.buildLog(), h);
      case 'build': {
        const ids = await this.#d.users?.ids(c.app, c.env);
        this.#d.users?.rootDirs(ids, [path.dirname(this.buildLog())]);
        const home: Record<string, string> = ids ? { HOME: this.#d.users?.home(c.app, c.env) as string } : {};
        const secrets = (await this.#d.secretEnv?.(c.app, c.env)) ?? {};
        // Its own secrets out of its build log (only its own: no other app's value is confirmed by a [redacted]).
        const own = new Redactor();
        own.set(Object.values(secrets));
        const previous = c.previous && (await this.#d.store.releases.get(c.previous.id));
        const outcome = await runBuilds({
          services: c.manifest.services,
          releaseDir: c.release.dir,
          logFile: this.buildLog(),
          env: { ...baseEnv(this.#d.appPath), ...packageCaches(this.#d.layout.root, c.app, c.env, ids) },
          secrets: { ...home, ...secrets },
          user: ids,
          redact: (t) => own.redact(t),
          files: this.#files,
          previous: previous
            ? { number: previous.number, dir: previous.dir, manifest: storedManifest(previous.manifest) }
            : undefined,
          noCache: c.noCache ?? false,
        });
        c.manifest = { ...c.manifest, services: c.manifest.services.map((s) => withBuildKey(s, outcome)) };
        if (outcome.reused.length > 0) await h.note({ reused: outcome.reused });
        this.#d.users?.seal(ids, c.release.dir);
        // Images last: a Dockerfile may COPY what a command build made; the context is the sealed snapshot.
        const built = await runImageBuilds({
          engine: this.#d.engine,
          services: c.manifest.services,
          releaseDir: c.release.dir,
          logFile: this.buildLog(),
          app: c.app,
          env: c.env,
          release: c.release.number,
          noCache: c.noCache ?? false,
          redact: (t) => own.redact(t),
          home: this.#d.engineHome,
        });
        if (built.size > 0) {
          // In the journal's context (saved by the note), then in the release's manifest: its instances run these images.
          c.manifest = {
            ...c.manifest,
            services: c.manifest.services.map((s) => withBuiltImage(s, built.get(s.name))),
          };
          await h.note({ images: Object.fromEntries([...built].map(([name, b]) => [name, b.tag])) });
          if (this.#d.swarm) {
            // Pushed to the swarm's registry: the release records the digests its nodes pull.
            const services = await this.#d.swarm.pushBuilt(c.app, c.env, c.release.number, c.manifest.services);
            c.manifest = { ...c.manifest, services };
            await h.note({
              pushed: Object.fromEntries(
                services.flatMap((s) =>
                  s.container?.digest && s.container.build ? [[s.name, s.container.digest]] : [],
                ),
              ),
            });
          }
        }
        return;
      }
      case 'release': {
        for (const spec of c.manifest.services) if (spec.static) staticRoot(c.release.dir, spec.static.dir, spec.name);
        const id = await this.#d.store.releases.create({
          environmentId: c.environmentId,
          number: c.release.number,
          dir: c.release.dir,
          manifest: JSON.stringify(c.manifest),
          source: JSON.stringify(c.source),
          createdAt: Date.now(),
        });
        c.release.id = id;
        await h.note({ releaseId: id });
        return;
      }
      case 'data': {
        const from = c.copyDataFrom as string;
        const to = this.#d.layout.dataDir(c.app, c.env);
        removeTree(to);
        // As the app's user when it has one: a running instance of it cannot make berthd read a file the app may not.
        // Copied by the source environment's user (it reads only what that environment may), into a
        // directory of berthd's, which then becomes the new environment's (taken, then given: see transfer).
        const source = await this.#d.users?.ids(c.app, from);
        const target = await this.#d.users?.ids(c.app, c.env);
        let copied;
        if (source && target) {
          const staging = path.join(path.dirname(to), `.copy-${c.env}-${process.pid}`);
          removeTree(staging);
          this.#d.users?.leaf(source, staging, 0o700);
          copied = await copyDataDirAs(source, this.#d.layout.dataDir(c.app, from), staging);
          this.#d.users?.transfer(target, staging);
          renameSync(staging, to);
        } else copied = await copyDataDir(this.#d.layout.dataDir(c.app, from), to);
        await h.note({ databases: copied.databases, files: copied.files.length });
        const stores = await copyDatabases(this.#d, c, from);
        if (stores.length > 0) await h.note({ managed: stores });
        return;
      }
      case 'hook':
        await h.note({ started: Date.now() }); // recovery can tell a hook that was cut off from one that never began
        return runHook(this.#d, c, this.#spec((h.step.services ?? [])[0] as string), this.buildLog());
      case 'wave': {
        const names = h.step.services ?? [];
        await this.#scheduler().start(
          names.map((name) => this.#spec(name)),
          h,
        );
        // The next waves' <NAME>_URL: listened on before a dependent starts.
        if (await leaseAddresses(this.#d.store, this.#d.ports, await this.#releaseId(), c.manifest, names))
          await this.#d.routes.sync();
        return;
      }
      case 'switch':
        // Checked again here, in the write transaction, so two apps deploying at once cannot both take a route.
        await this.#d.store.write(async (r) => {
          await assertRoutesFree(r, c.app, c.env, c.manifest.services);
          await r.apps.setCurrentRelease(c.environmentId, c.release.id as number);
        });
        await this.#d.routes.sync();
        if (c.down) {
          const at = Date.now();
          await h.note({ downMs: Object.fromEntries(Object.entries(c.down).map(([s, since]) => [s, at - since])) });
        }
        return;
      case 'drain':
        return this.#scheduler().drain();
      case 'retire':
        return this.#scheduler().retire();
      case 'prune':
        return pruneReleases(this.#d, c);
    }
  }

  async undo(h: StepHandle): Promise<void> {
    const c = this.#ctx;
    switch (h.step.kind) {
      case 'snapshot':
        this.#d.users?.reclaim(c.release.dir); // a build may have left a process of the app's user behind
        await removeTreeOffThread(c.release.dir);
        return;
      case 'release': {
        const row = await this.#d.store.releases.byNumber(c.environmentId, c.release.number);
        if (!row) return;
        await this.#scheduler().removeRelease(row.id);
        await this.#d.store.releases.delete(row.id);
        return;
      }
      case 'data':
        // Only planned for an environment this deployment created: its data dir holds nothing else.
        this.#d.users?.reclaim(this.#d.layout.dataDir(c.app, c.env));
        removeTree(this.#d.layout.dataDir(c.app, c.env));
        return;
      case 'wave':
        return this.#scheduler().undo(
          (h.step.services ?? []).map((name) => this.#spec(name)),
          h,
        );
      case 'switch':
        await this.#d.store.apps.setCurrentRelease(c.environmentId, c.previous?.id ?? null);
        await this.#d.routes.sync();
        return;
      case 'pull':
        return undoPullStep(this.#d, h);
      case 'build': {
        // Command builds leave nothing outside the release dir (the snapshot's undo removes it); image builds leave images.
        const tags = releaseImageTags(c.app, c.env, c.release.number, c.manifest.services);
        for (const kept of await removeImages(this.#d.engine, tags))
          this.#d.log.warn({ image: kept }, 'an image of a deployment undone was left');
        return;
      }
      case 'hook':
        // What the hook changed (a migration) stays: only its processes, if any are left, are stopped.
        return stopHook(c.release.dir, this.#spec((h.step.services ?? [])[0] as string));
      case 'drain':
      case 'retire':
      case 'prune':
        return; // after the switch: a deployment completes these, it never undoes them
    }
  }

  buildLog(): string {
    return path.join(this.#d.layout.logDir(this.#ctx.app, this.#ctx.env), `build-${this.#ctx.release.number}.log`);
  }

  async #releaseId(): Promise<number> {
    if (this.#ctx.release.id !== undefined) return this.#ctx.release.id;
    const row = await this.#d.store.releases.byNumber(this.#ctx.environmentId, this.#ctx.release.number);
    if (!row) throw new Error(`release ${this.#ctx.release.number} is not recorded`);
    this.#ctx.release.id = row.id;
    return row.id;
  }

  /** Where this deployment's services run: this host, or the swarm of its engine (host setting `scheduler`). */
  #scheduler(): Scheduler {
    const host = new HostScheduler(this.#d, this.#ctx, () => this.#releaseId());
    return this.#d.swarm ? this.#d.swarm.scheduler(this.#d, this.#ctx, host) : host;
  }
}
