import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { writeFileAtomic } from '../system/atomic-write.js';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError, describe } from '../core/errors.js';
import { dependencyWaves } from '../core/waves.js';
import type { EnvironmentRow } from '../store/apps-repo.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { Store } from '../store/store.js';
import type { HomeLayout } from '../system/paths.js';
import type { Deployer } from './deploy/deployer.js';
import type { AppUsers } from './app-users.js';
import type { CronRuns } from './apps.js';
import type { InstanceManager } from './instance-manager.js';
import type { RouteSync } from './route-sync.js';
import { storedManifest } from '../config/stored-manifest.js';
import { removeTree } from '../system/safe-tree.js';
import { removeTreeOffThread } from '../system/tree-removal.js';
import type { EnvironmentStatus } from '../core/results.js';

export interface EnvironmentDeps {
  readonly store: Store;
  readonly layout: HomeLayout;
  readonly instances: InstanceManager;
  readonly routes: RouteSync;
  readonly deployer: Deployer;
  readonly log: Logger;
  readonly users?: AppUsers | undefined;
  /** Ends the environment's running `cron:` jobs when it is removed. */
  readonly cron?: CronRuns | undefined;
  /** Removes the environment's images, stopped containers and network from the container engine. */
  readonly images?: { forget(app: string, env?: string): Promise<void> } | undefined;
}

/** Environments of an app: listing, removal (all or nothing), and expiry of idle previews. */
export class Environments {
  readonly #d: EnvironmentDeps;

  constructor(deps: EnvironmentDeps) {
    this.#d = deps;
  }

  async list(app: string): Promise<EnvironmentStatus[]> {
    const rows = await this.#d.store.apps.environments({ app });
    const instances = await this.#d.store.instances.list({ app });
    return Promise.all(
      rows.map((e) =>
        this.#status(
          e,
          instances.filter((v) => v.environmentId === e.id),
        ),
      ),
    );
  }

  async #status(e: EnvironmentRow, instances: readonly InstanceView[]): Promise<EnvironmentStatus> {
    const release = e.currentReleaseId ? await this.#d.store.releases.get(e.currentReleaseId) : undefined;
    const manifest = release ? storedManifest(release.manifest) : undefined;
    const spec = manifest?.environments.find((x) => x.name === e.definition);
    const last = (await this.#d.store.deployments.list(e.id, 1))[0];
    const lastDeployAt = last ? (last.finishedAt ?? last.startedAt) : null;
    const current = instances.filter((v) => v.current);
    return {
      app: e.app,
      name: e.name,
      branch: e.branch,
      definition: e.definition,
      preview: spec?.pattern ?? false,
      release: release?.number ?? null,
      hosts: [...new Set((manifest?.services ?? []).flatMap((s) => s.routes.map((r) => r.host)))].sort(),
      instances: { healthy: current.filter((v) => v.state === 'healthy').length, total: current.length },
      createdAt: e.createdAt,
      lastDeployAt,
      expiresAt: spec?.pattern && spec.expireMs !== null ? (lastDeployAt ?? e.createdAt) + spec.expireMs : null,
      dataDir: this.#d.layout.dataDir(e.app, e.name),
    };
  }

  /**
   * Stops the environment's instances, frees their ports, takes its routes down and removes
   * its releases, logs and data. All or nothing: if an instance does not stop, or a directory
   * cannot be moved aside, what was stopped starts again and nothing is removed. An
   * environment with a fixed branch (production) holds data nobody can redeploy: it needs `force`.
   */
  async remove(
    app: string,
    env: string,
    opts: { force?: boolean; reason?: string; ifExpiredAt?: number } = {},
  ): Promise<{ app: string; env: string; removed: string[] }> {
    const row = (await this.#d.store.apps.environments({ app, env }))[0];
    if (!row) {
      const names = (await this.#d.store.apps.environments({ app })).map((e) => e.name);
      throw new BerthError('not_found', 'environment_not_found', `app "${app}" has no environment "${env}"`, {
        hint: names.length ? `its environments: ${names.join(', ')}` : `see berth env ls ${app}`,
      });
    }
    return this.#d.deployer.exclusive(app, env, { wait: false, what: `berth env rm ${app} ${env}` }, async () => {
      const status = await this.#status(row, []);
      if (opts.ifExpiredAt !== undefined && (status.expiresAt === null || status.expiresAt > opts.ifExpiredAt)) {
        throw new BerthError('conflict', 'not_expired', `${app} (${env}) was deployed again: it no longer expires now`);
      }
      if (!status.preview && !opts.force) {
        throw new BerthError(
          'conflict',
          'environment_protected',
          `"${env}" is not a preview${row.branch ? ` (it runs branch ${row.branch})` : ''}: removing it deletes its data for good`,
          { hint: `if that is what you want: berth env rm ${app} ${env} --force` },
        );
      }
      const instances = await this.#d.store.instances.list({ app, env });
      // The plan first (what to restart, which directories go where), so a berthd killed at any
      // point below puts the environment back at its next start (recoverTrash) while its row is there.
      const trash = path.join(this.#d.layout.root, 'trash', `${app}.${env}.${Date.now()}`);
      const dirs = [
        this.#d.layout.releasesDir(app, env),
        this.#d.layout.logDir(app, env),
        this.#d.layout.dataDir(app, env),
      ].filter((d) => existsSync(d));
      mkdirSync(trash, { recursive: true, mode: 0o700 });
      const restart = instances.filter((v) => v.desired === 'running').map((v) => v.id);
      writeFileAtomic(
        path.join(trash, 'moved.json'),
        JSON.stringify({ app, env, restart, dirs: dirs.map((d, i) => [d, path.join(trash, String(i))]) }),
      );
      const stopped: InstanceView[] = [];
      try {
        for (const wave of waves(instances).reverse()) {
          await Promise.all(
            wave.map(async (v) => {
              await this.#d.instances.stop(v.id);
              stopped.push(v);
            }),
          );
        }
      } catch (err) {
        removeTree(trash);
        await this.#restart(stopped);
        throw new BerthError(
          'failed',
          'environment_rm_failed',
          `removing ${app} (${env}): an instance did not stop (${describe(err)}); nothing was removed`,
          { hint: 'see berth ps and berth doctor, then try again' },
        );
      }
      await this.#d.cron?.end([row.id], `berth env rm ${app} ${env}`);
      // Directories move aside (a rename each), so a failure can put them back.
      const moved: Array<[string, string]> = [];
      try {
        for (const [i, dir] of dirs.entries()) {
          const to = path.join(trash, String(i));
          renameSync(dir, to);
          moved.push([dir, to]);
        }
        await this.#d.store.write((r) => r.apps.deleteEnvironment(row.id)); // instances, leases, releases, deployments go with it
      } catch (err) {
        for (const [dir, to] of moved.reverse()) renameSync(to, dir);
        removeTree(trash);
        this.#d.cron?.reopen([row.id]);
        await this.#restart(stopped);
        throw new BerthError(
          'failed',
          'environment_rm_failed',
          `removing ${app} (${env}) failed: ${describe(err)}; nothing was removed`,
        );
      }
      await this.#d.routes.sync();
      await this.#d.images?.forget(app, env);
      this.#d.users?.reclaim(trash);
      await removeTreeOffThread(trash);
      this.#d.users?.reclaim(path.join(this.#d.layout.root, 'homes', app, env));
      await removeTreeOffThread(path.join(this.#d.layout.root, 'homes', app, env));
      await this.#d.users
        ?.remove(app, [env])
        .catch((err) => this.#d.log.warn({ app, env, err: describe(err) }, 'removing the environment user failed'));
      const message = `environment ${env} removed${opts.reason ? ` (${opts.reason})` : ''}: ${instances.length} instance(s), its routes (${status.hosts.join(', ') || 'none'}), releases, logs and data`;
      await this.#d.store.events.append({
        at: Date.now(),
        app,
        environment: env,
        service: null,
        kind: 'environment.rm',
        message,
      });
      this.#d.log.info({ app, env, reason: opts.reason }, 'environment removed');
      return { app, env, removed: dirs };
    });
  }

  /**
   * At boot: a removal berthd was killed in the middle of. If the environment's row is still
   * there, the removal did not happen: its directories go back. Otherwise they are deleted.
   */
  async recoverTrash(): Promise<void> {
    const root = path.join(this.#d.layout.root, 'trash');
    if (!existsSync(root)) return;
    for (const name of readdirSync(root)) {
      const dir = path.join(root, name);
      try {
        const plan = JSON.parse(readFileSync(path.join(dir, 'moved.json'), 'utf8')) as {
          app: string;
          env: string;
          restart?: number[];
          dirs: Array<[string, string]>;
        };
        if ((await this.#d.store.apps.environments({ app: plan.app, env: plan.env })).length > 0) {
          for (const [original, moved] of plan.dirs)
            if (existsSync(moved) && !existsSync(original)) renameSync(moved, original);
          for (const id of plan.restart ?? [])
            await this.#d.instances
              .start(id)
              .catch((err) =>
                this.#d.log.warn({ id, err: describe(err) }, 'restarting an instance of an interrupted removal failed'),
              );
          this.#d.log.warn(
            { app: plan.app, env: plan.env },
            'an environment removal was interrupted before it took effect: its directories are back',
          );
        }
      } catch {
        // no plan: nothing of it can be put back
      }
      removeTree(dir);
    }
  }

  async #restart(stopped: readonly InstanceView[]): Promise<void> {
    for (const v of stopped) if (v.desired === 'running') await this.#d.instances.start(v.id).catch(() => undefined);
  }

  /**
   * Removes previews idle past their `expire` (no deployment for that long). Returns the
   * delay until the next one is due (at most a minute), for the daemon's timer.
   */
  async expire(now = Date.now()): Promise<number> {
    let next = 60_000;
    for (const app of await this.#d.store.apps.names()) {
      for (const e of await this.list(app)) {
        if (e.expiresAt === null) continue;
        if (e.expiresAt > now) {
          next = Math.min(next, e.expiresAt - now);
          continue;
        }
        await this.remove(app, e.name, {
          ifExpiredAt: now,
          reason: `idle since ${new Date(e.lastDeployAt ?? e.createdAt).toISOString()}, past its expire`,
        }).catch((err) =>
          this.#d.log.warn(
            { app, env: e.name, err: describe(err) },
            'removing an expired environment failed; trying again later',
          ),
        );
      }
    }
    return Math.max(250, next);
  }
}

function waves(instances: readonly InstanceView[]): InstanceView[][] {
  const specs = new Map(instances.map((v) => [v.service, JSON.parse(v.spec) as ServiceSpec]));
  const w = dependencyWaves([...specs.values()].map((s) => ({ name: s.name, dependsOn: s.dependsOn })));
  const order = w.ok ? w.waves : [[...specs.keys()]];
  return order.map((names) => instances.filter((v) => names.includes(v.service)));
}
