/** Serializes async work per key: work for one key runs one at a time, in call order. */
export class KeyedLock<K> {
  readonly #tails = new Map<K, Promise<unknown>>();

  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }

  /** True when work for `key` is queued or running. */
  busy(key: K): boolean {
    return this.#tails.has(key);
  }
}
