/** Where the scaled clock meets the real one: a constant, so the scaled time goes on across berthd restarts. */
const ANCHOR = Date.UTC(2026, 0, 1);
const MINUTE_MS = 60_000;

/**
 * The scheduler's clock. On a host it is the real one. Tests shorten a minute with the hidden
 * variable BERTH_CRON_MINUTE_MS (e.g. 1000: a `* * * * *` job runs every second), so they need
 * not wait real minutes; everything else (schedules, claims, the store) works unchanged on the
 * scaled time, which runs ahead of the real one from a fixed anchor.
 */
export class CronClock {
  readonly #factor: number;

  constructor(minuteMs = MINUTE_MS) {
    this.#factor = MINUTE_MS / minuteMs;
  }

  static fromEnv(env: NodeJS.ProcessEnv): CronClock {
    const ms = Number(env.BERTH_CRON_MINUTE_MS);
    return new CronClock(Number.isInteger(ms) && ms >= 100 && ms <= MINUTE_MS ? ms : MINUTE_MS);
  }

  /** Now, in ms since the epoch on this clock. */
  now(real: number = Date.now()): number {
    return this.#factor === 1 ? real : ANCHOR + Math.round((real - ANCHOR) * this.#factor);
  }

  /** How long `ms` of this clock's time lasts in real time. */
  toReal(ms: number): number {
    return ms / this.#factor;
  }

  /** How much of this clock's time passes in `realMs`. */
  fromReal(realMs: number): number {
    return realMs * this.#factor;
  }
}
