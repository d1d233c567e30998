import type { Logger } from 'pino';
import type { ServiceSpec } from '../config/manifest-types.js';
import { describe } from '../core/errors.js';
import type { InstanceView } from '../store/instances-repo.js';
import { instanceWaves } from './apps.js';
import type { EnvironmentLocks } from './environment-locks.js';
import { checkPortBeforeStart, type SwapDeps } from './instance-swap.js';

/** One environment whose current release lost every process: what it restarts. */
interface ColdEnvironment {
  readonly app: string;
  readonly env: string;
  readonly release: number;
  readonly ids: readonly number[];
}

/**
 * After a reboot (or anything else that ended every process of an environment while berthd was
 * away), the current release comes back the way a deploy starts it: wave by wave along
 * `depends_on`, each wave healthy before the next, holding the environment's lock. An environment
 * with any live instance is left to the supervisor (adoption, restart policy), as is every
 * instance that is not of a current release.
 */
export class BootRecovery {
  readonly #deps: SwapDeps & { locks: EnvironmentLocks; log: Logger };
  readonly #cold: ColdEnvironment[] = [];

  constructor(deps: SwapDeps & { locks: EnvironmentLocks; log: Logger }) {
    this.#deps = deps;
  }

  /**
   * Given to InstanceManager.adoptAll: of the dead instances that should run, takes those of
   * environments where no instance of the current release is alive, and returns their ids.
   */
  readonly claim = (dead: readonly InstanceView[], live: readonly InstanceView[]): ReadonlySet<number> => {
    const warm = new Set(live.filter((v) => v.current).map((v) => v.environmentId));
    const byEnv = new Map<number, InstanceView[]>();
    for (const v of dead) if (v.current) byEnv.set(v.environmentId, [...(byEnv.get(v.environmentId) ?? []), v]);
    const taken = new Set<number>();
    for (const [envId, group] of byEnv) {
      if (warm.has(envId)) continue;
      const first = group[0] as InstanceView;
      this.#cold.push({ app: first.app, env: first.env, release: first.release, ids: group.map((v) => v.id) });
      for (const v of group) taken.add(v.id);
    }
    return taken;
  };

  /** Environments `claim` took; empty when nothing was down. */
  get pending(): number {
    return this.#cold.length;
  }

  /** Starts every claimed environment (environments side by side); resolves when all are done. */
  async run(): Promise<void> {
    const cold = this.#cold.splice(0);
    await Promise.all(cold.map((c) => this.#restart(c)));
  }

  #restart(c: ColdEnvironment): Promise<void> {
    const { locks, store, log } = this.#deps;
    return locks
      .run(c.app, c.env, { wait: true, what: `the restart of ${c.app} after a reboot` }, async () => {
        const targets = (await store.instances.list({ app: c.app, env: c.env })).filter(
          (v) => c.ids.includes(v.id) && v.current && v.desired === 'running',
        );
        const waves = instanceWaves(targets).filter((w) => w.length > 0);
        const problems: string[] = [];
        for (const wave of waves) {
          const results = await Promise.allSettled(wave.map((v) => this.#startOne(v)));
          results.forEach((r, i) => {
            const v = wave[i] as InstanceView;
            if (r.status === 'rejected') problems.push(`${v.service}[${v.idx}]: ${describe(r.reason)}`);
          });
        }
        await this.#deps.routesChanged().catch(() => undefined);
        const order = waves.map((w, i) => `wave ${i + 1}: ${w.map((v) => `${v.service}[${v.idx}]`).join(' ')}`);
        const message =
          `restarted r${c.release}: every process of it was gone when berthd started (a reboot, or all died while ` +
          `berthd was away): ${order.join('; ')}` +
          (problems.length ? `; not healthy: ${problems.join('; ')} (restarted by their restart policy)` : '');
        await store.events.append({
          at: Date.now(),
          app: c.app,
          environment: c.env,
          service: null,
          kind: 'boot.restart',
          message,
        });
        log.info({ app: c.app, env: c.env, release: c.release, problems: problems.length }, 'restarted after a reboot');
      })
      .catch((err) => log.error({ err: describe(err), app: c.app, env: c.env }, 'restart after a reboot failed'));
  }

  /**
   * One instance up and healthy. A wave that does not become healthy does not hold back the next:
   * nobody is there to fix it, and the supervisor restarts what failed by its policy.
   */
  async #startOne(v: InstanceView): Promise<void> {
    const { instances, store } = this.#deps;
    await checkPortBeforeStart(this.#deps, (await store.instances.get(v.id)) ?? v);
    await instances.start(v.id);
    await instances.waitReady(v.id, (JSON.parse(v.spec) as ServiceSpec).health.startTimeoutMs + 1000);
  }
}
