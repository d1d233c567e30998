import { BerthError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import type { JournalDoc } from './deploy/journal.js';
import { KeyedLock } from './keyed-lock.js';

/** What holds an environment: a deployment, an environment's or an app's removal, a restart. */
export interface LockOptions {
  /** Queue behind whatever holds it instead of failing at once. */
  readonly wait: boolean;
  /** Named to whoever is refused meanwhile, e.g. "berth rm shop". */
  readonly what: string;
}

/**
 * One change at a time per environment of an app: deployments, rollbacks, `berth env rm`,
 * `berth rm` (all of an app's environments at once) and start/stop/restart take these locks,
 * so none of them acts on instances another one is starting or removing.
 */
export class EnvironmentLocks {
  readonly #store: Store;
  readonly #lock = new KeyedLock<string>();
  readonly #holders = new Map<string, string>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** True while something holds (or waits for) the environment. */
  busy(app: string, env: string): boolean {
    return this.#lock.busy(key(app, env));
  }

  /** Runs `fn` holding one environment; a second caller fails at once naming the holder, or waits. */
  run<T>(app: string, env: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
    return this.runAll(app, [env], opts, fn);
  }

  /** Runs `fn` holding several environments of an app, taken together. */
  async runAll<T>(app: string, envs: readonly string[], opts: LockOptions, fn: () => Promise<T>): Promise<T> {
    const keys = [...new Set(envs)].sort().map((e) => key(app, e));
    if (!opts.wait) {
      const taken = [...new Set(envs)].sort().find((e) => this.busy(app, e));
      if (taken !== undefined) throw await this.#refusal(app, taken);
    }
    return this.#lock.runAll(keys, async () => {
      for (const k of keys) this.#holders.set(k, opts.what);
      try {
        return await fn();
      } finally {
        for (const k of keys) if (this.#holders.get(k) === opts.what) this.#holders.delete(k);
      }
    });
  }

  async #refusal(app: string, env: string): Promise<BerthError> {
    const e = (await this.#store.apps.environments({ app, env }))[0];
    const running = e ? (await this.#store.deployments.running(e.id))[0] : undefined;
    if (running || !this.#holders.has(key(app, env))) {
      const step = running
        ? (JSON.parse(running.steps) as JournalDoc<unknown>).steps.find((s) => s.status === 'running')?.name
        : undefined;
      return new BerthError(
        'conflict',
        'deployment_running',
        `a deployment of ${app} (${env}) is already running${running ? `: #${running.id} (${running.kind}), started ${new Date(running.startedAt).toISOString()}${step ? `, now at "${step}"` : ''}` : ''}`,
        { hint: 'wait for it, or pass --wait to queue behind it' },
      );
    }
    return new BerthError(
      'conflict',
      'environment_busy',
      `${app} (${env}) is busy: ${this.#holders.get(key(app, env))} is running`,
      { hint: 'wait for it, or pass --wait to queue behind it' },
    );
  }
}

function key(app: string, env: string): string {
  return `${app}/${env}`;
}
