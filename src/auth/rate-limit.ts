/**
 * Failed attempts per key in a sliding window: after `max` failures within `windowMs`, the
 * key is refused until the oldest of them leaves the window. Kept in memory: a restart of
 * berthd forgets them, which costs an attacker a restart they cannot cause.
 */
export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #failures = new Map<string, number[]>();

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string, now = Date.now()): number {
    const recent = this.#recent(key, now);
    return recent.length < this.#max ? 0 : (recent[0] as number) + this.#windowMs - now;
  }

  /** Records a failure (or an attempt still being checked); returns its time, for `forgive`. */
  fail(key: string, now = Date.now()): number {
    this.#failures.set(key, [...this.#recent(key, now), now]);
    return now;
  }

  /** Takes back one recorded attempt that turned out to succeed. */
  forgive(key: string, at: number): void {
    const list = this.#failures.get(key) ?? [];
    const i = list.indexOf(at);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#failures.delete(key);
  }

  succeed(key: string): void {
    this.#failures.delete(key);
  }

  #recent(key: string, now: number): number[] {
    const list = (this.#failures.get(key) ?? []).filter((t) => t > now - this.#windowMs);
    if (list.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, list);
    return list;
  }
}
