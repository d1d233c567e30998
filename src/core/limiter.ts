/**
 * Runs at most `limit` tasks at once; the others wait their turn, first come first served.
 * What a 1,000-service wave goes through: all of it is asked for at once, a few spawn at a
 * time, so berthd stays responsive and the host is not asked for 2,000 forks in one instant.
 */
export class Limiter {
  readonly #limit: number;
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`a limiter needs a limit of at least 1, not ${limit}`);
    this.#limit = limit;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((go) => this.#queue.push(go));
    else this.#running++;
    try {
      return await fn();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }

  /** Tasks running now and waiting: for tests and status. */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#queue.length };
  }
}
