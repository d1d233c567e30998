/** Serializes async work per key: work for one key runs one at a time, in call order. */
export class KeyedLock<K> {
  readonly #tails = new Map<K, Promise<unknown>>();

  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    return this.runAll([key], fn);
  }

  /**
   * Runs `fn` holding every key at once: it starts when the work queued before it on each key
   * is done, and work queued after it on any of them waits for it. All keys are taken in
   * the same tick, so two callers can never each hold a part of the other's set.
   */
  runAll<T>(keys: readonly K[], fn: () => Promise<T>): Promise<T> {
    const prev = Promise.all(keys.map((k) => this.#tails.get(k) ?? Promise.resolve()));
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    for (const key of keys) this.#tails.set(key, tail);
    void tail.then(() => {
      for (const key of keys) if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }

  /** True when work for `key` is queued or running. */
  busy(key: K): boolean {
    return this.#tails.has(key);
  }
}
