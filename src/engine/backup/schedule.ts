import type { Logger } from 'pino';
import { latestDue, nextDue } from '../../config/cron-schedule.js';
import { describe } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import type { CronClock } from '../cron/clock.js';
import type { Backups } from './backups.js';

/** The longest a timer waits before the scheduler looks again. */
const MAX_SLEEP_MS = 3_600_000;

export interface BackupScheduleDeps {
  readonly store: Store;
  readonly backups: Backups;
  /** The cron scheduler's clock (tests shorten a minute with BERTH_CRON_MINUTE_MS). */
  readonly clock: CronClock;
  readonly log: Logger;
}

/**
 * Runs the scheduled backups of every environment whose current release has `backup:`. Each
 * run is claimed in the store (environment, due minute) before it starts, so it runs once
 * across berthd restarts; a run missed while berthd was down (or busy) is caught up once: the
 * latest one due since the environment's last scheduled backup, never every one missed.
 * Backups run one at a time. It wakes for the next due run only (and when poked after a deployment).
 */
export class BackupScheduler {
  readonly #d: BackupScheduleDeps;
  #timer: NodeJS.Timeout | undefined;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(deps: BackupScheduleDeps) {
    this.#d = deps;
  }

  /** At berthd start: a backup an earlier berthd was killed in failed; then schedules. */
  async start(): Promise<void> {
    for (const b of await this.#d.store.backups.list())
      if (b.status === 'running')
        await this.#d.store.backups.update(b.id, {
          status: 'failed',
          error: 'berthd stopped during this backup',
          finished_at: Date.now(),
        });
    this.poke();
  }

  poke(): void {
    this.#queue = this.#queue
      .then(() => (this.#stopped ? undefined : this.#tick()))
      .catch((err) => this.#d.log.error({ err: describe(err) }, 'backup: scheduling failed'));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #tick(): Promise<void> {
    clearTimeout(this.#timer);
    const { clock, store, backups } = this.#d;
    let next = Infinity;
    for (const env of await store.apps.environments()) {
      const spec = (await backups.manifest(env))?.backup;
      if (!spec || this.#stopped) continue;
      const now = clock.now();
      const since = (await store.backups.lastScheduled(env.id))?.dueAt ?? clock.now(env.createdAt);
      const due = latestDue(spec.schedule, now, now - since);
      if (due !== undefined && due > since)
        await backups
          .run(env.app, env.name, due)
          .catch((err) => this.#d.log.error({ app: env.app, env: env.name, err: describe(err) }, 'backup: run failed'));
      next = Math.min(next, nextDue(spec.schedule, clock.now()) ?? Infinity);
    }
    if (next === Infinity || this.#stopped) return;
    const wait = Math.min(MAX_SLEEP_MS, Math.max(0, clock.toReal(next - clock.now())) + 5);
    this.#timer = setTimeout(() => this.poke(), wait);
    this.#timer.unref();
  }
}
